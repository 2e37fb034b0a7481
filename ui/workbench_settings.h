#pragma once
// What the workbench remembers between runs (QSettings): the last model and its engine settings,
// and recent models. Reading never fails: every missing, unreadable or out-of-range value falls
// back to its default, and a combination EngineConfig::validate() rejects falls back to the
// default configuration. The dock layout is stored by the main window beside these.

#include <QSettings>
#include <QStringList>

#include "ui/engine_messages.h"

namespace kvscope::ui {

struct WorkbenchSettings {
    static constexpr int kMaxRecent = 8;

    LoadRequest load;          // the model and settings to start with
    QStringList recentModels;  // most recent first

    static WorkbenchSettings read(QSettings& settings);
    void write(QSettings& settings) const;
    void addRecent(const QString& source);
};

// Qt never writes over a settings file it could not parse (QSettings::FormatError): nothing
// would be saved again. Such a file is moved aside to "<file>.corrupt" so that the next save
// writes a fresh one. Returns a one-line message saying so, or "" when the file was fine.
QString setAsideCorruptSettings(QSettings& settings);

// The embedded model's name, as a QString.
QString embeddedModelSource();
// Problems with a load request, one line each (empty when it is valid): the engine settings as
// EngineConfig::validate() sees them, and the re-quantisation target.
QStringList validateLoadRequest(const LoadRequest& request);
// The request's re-quantisation as llama.cpp names it ("Q4_K", "Q4_K_M"), "" for as stored; and
// back into a request (false, and the request untouched, for a name that is none).
QString weightConversionText(const LoadRequest& request);
bool setWeightConversion(LoadRequest& request, const QString& name);

}  // namespace kvscope::ui
