#pragma once
// The KV block inspector: the grid of every physical block, its legend, live counters, the live
// requests (click one to draw its block table), details of the hovered or clicked block (its
// tokens asked of the engine on demand), and the timeline over recorded snapshots.

#include <QWidget>
#include <memory>

#include "engine/snapshot.h"
#include "ui/engine_messages.h"
#include "ui/inspector_scene.h"
#include "ui/model_summary.h"

class QCheckBox;
class QLabel;
class QLayout;
class QListWidget;
class QTextBrowser;
class QTimer;

namespace kvscope::ui {

class InspectorLegend;
class KvGridView;
class Session;
class TimelineBar;

class InspectorPanel final : public QWidget {
    Q_OBJECT

public:
    explicit InspectorPanel(Session* session, QWidget* parent = nullptr);

    KvGridView* grid() const { return m_grid; }
    TimelineBar* timeline() const { return m_timeline; }
    const InspectorScene& scene() const;
    QString countersText() const;
    // What stands instead of the grid when the engine followed has no block state to show ("" if none).
    QString noticeText() const;
    QString detailsHtml() const;
    // The grid as shown (zoom, pan, highlight), for export.
    QImage viewImage() const;
    InspectorLegend* legend() const { return m_legend; }

public slots:
    void selectRequest(qint64 requestId);
    void selectBlock(int block);
    // Colour blocks by the LoRA adapter whose KV they hold instead of by request.
    void setColorByAdapter(bool on);

private slots:
    void onSnapshot(std::shared_ptr<const kvscope::EngineSnapshot> snapshot, double timeS);
    void onFrameSelected(int index);
    void onHover(int block);
    void onTokens(const kvscope::ui::BlockTokens& tokens);
    void onModelLoaded(const kvscope::ui::ModelSummary& summary);
    // The notice over the grid: a server without block state, or an attached one not answering.
    void updateNotice();

private:
    QLayout* buildTopBar();
    QWidget* buildSidePane();
    void show(std::shared_ptr<const EngineSnapshot> snapshot);
    void updateCounters(const EngineSnapshot& snapshot);
    void updateRequestList();
    void updateDetails();
    void updateHighlight();
    void askTokens(int block);

    Session* m_session;
    KvGridView* m_grid = nullptr;
    TimelineBar* m_timeline = nullptr;
    QLabel* m_counters = nullptr;
    QLabel* m_zoom = nullptr;
    QLabel* m_notice = nullptr;  // a server without block state (vLLM, llama.cpp), or one not answering
    QListWidget* m_requests = nullptr;
    InspectorLegend* m_legend = nullptr;
    QCheckBox* m_byAdapter = nullptr;
    ColorBy m_colorBy = ColorBy::Request;
    QTextBrowser* m_details = nullptr;
    QTimer* m_tokenDelay = nullptr;
    int m_hover = -1;
    int m_pinned = -1;
    std::vector<RequestId> m_selectedRequests;
    BlockTokens m_tokens;
    int m_tokensWanted = -1;
};

}  // namespace kvscope::ui
