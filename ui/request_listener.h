#pragma once
// What a panel that sends requests (chat, batch) hears about them from the Session.

#include <QString>

#include "engine/request.h"

namespace kvscope::ui {

class RequestListener {
public:
    virtual ~RequestListener() = default;
    virtual void requestAccepted(quint64 tag, qint64 requestId) = 0;
    virtual void requestRejected(quint64 tag, const QString& message) = 0;
    // News of one of its requests (streamed tokens; finished with timings).
    virtual void requestOutput(const RequestOutput& output) = 0;
};

}  // namespace kvscope::ui
