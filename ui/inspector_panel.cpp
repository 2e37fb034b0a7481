#include "ui/inspector_panel.h"

#include <QCheckBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QSplitter>
#include <QTextBrowser>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>

#include "ui/block_details.h"
#include "ui/inspector_legend.h"
#include "ui/inspector_palette.h"
#include "ui/kv_grid_view.h"
#include "ui/session.h"
#include "ui/session_recorder.h"
#include "ui/timeline_bar.h"

namespace kvscope::ui {

InspectorPanel::InspectorPanel(Session* session, QWidget* parent) : QWidget(parent), m_session(session) {
    m_counters = new QLabel(this);
    m_counters->setObjectName("inspectorCounters");
    m_counters->setTextFormat(Qt::RichText);
    m_counters->setWordWrap(true);
    m_counters->setMinimumHeight(2 * m_counters->fontMetrics().lineSpacing() + 2);  // no relayout when it wraps
    m_grid = new KvGridView(this);
    m_grid->setObjectName("kvGrid");
    m_timeline = new TimelineBar(session->recorder(), this);
    m_tokenDelay = new QTimer(this);
    m_tokenDelay->setSingleShot(true);
    m_tokenDelay->setInterval(120);

    QLayout* top = buildTopBar();

    auto* splitter = new QSplitter(Qt::Horizontal, this);
    splitter->addWidget(m_grid);
    splitter->addWidget(buildSidePane());
    splitter->setStretchFactor(0, 1);
    splitter->setStretchFactor(1, 0);
    splitter->setSizes({900, 250});
    splitter->setChildrenCollapsible(false);

    m_notice = new QLabel(this);
    m_notice->setObjectName("inspectorNotice");
    m_notice->setAlignment(Qt::AlignCenter);
    m_notice->setWordWrap(true);
    m_notice->setVisible(false);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);
    layout->addLayout(top);
    layout->addWidget(m_notice);
    layout->addWidget(splitter, 1);
    layout->addWidget(m_timeline);

    connect(m_grid, &KvGridView::viewChanged, this, [this] {
        m_zoom->setText(
            tr("%1 px/block").arg(m_grid->layout().cellPx(), 0, 'f', m_grid->layout().cellPx() < 10 ? 1 : 0));
    });
    connect(m_grid, &KvGridView::hoveredBlockChanged, this, &InspectorPanel::onHover);
    connect(m_grid, &KvGridView::blockClicked, this, &InspectorPanel::selectBlock);
    connect(m_grid, &KvGridView::blockDoubleClicked, this, [this](int block) {
        if (block >= 0 && scene().numBlocks() > block && scene().ownerRequest(block) >= 0)
            selectRequest(scene().ownerRequest(block));
    });
    connect(m_tokenDelay, &QTimer::timeout, this, [this] { askTokens(m_hover >= 0 ? m_hover : m_pinned); });
    connect(m_timeline, &TimelineBar::frameSelected, this, &InspectorPanel::onFrameSelected);
    connect(session, &Session::snapshotArrived, this, &InspectorPanel::onSnapshot);
    connect(session, &Session::blockTokensArrived, this, &InspectorPanel::onTokens);
    connect(session, &Session::requestFocused, this, &InspectorPanel::selectRequest);
    connect(session, &Session::modelLoaded, this, &InspectorPanel::onModelLoaded);
    connect(session, &Session::remoteAnsweringChanged, this, &InspectorPanel::updateNotice);
    connect(m_requests, &QListWidget::itemClicked, this,
            [this](QListWidgetItem* item) { selectRequest(item->data(Qt::UserRole).toLongLong()); });
    updateDetails();
}

// The counters and the zoom controls.
QLayout* InspectorPanel::buildTopBar() {
    auto* zoomOut = new QToolButton(this);
    zoomOut->setText(QStringLiteral("−"));
    zoomOut->setToolTip(tr("Zoom out (or the mouse wheel)"));
    auto* zoomIn = new QToolButton(this);
    zoomIn->setText(QStringLiteral("+"));
    zoomIn->setToolTip(tr("Zoom in (or the mouse wheel over a spot)"));
    auto* fit = new QToolButton(this);
    fit->setText(tr("Fit"));
    fit->setToolTip(tr("Show every block"));
    m_zoom = new QLabel(this);
    auto* top = new QHBoxLayout;
    top->addWidget(m_counters, 1);
    top->addWidget(m_zoom);
    top->addWidget(zoomOut);
    top->addWidget(zoomIn);
    top->addWidget(fit);
    connect(zoomIn, &QToolButton::clicked, m_grid, [this] { m_grid->zoomBy(1.5); });
    connect(zoomOut, &QToolButton::clicked, m_grid, [this] { m_grid->zoomBy(1 / 1.5); });
    connect(fit, &QToolButton::clicked, m_grid, &KvGridView::fit);
    return top;
}

QWidget* InspectorPanel::buildSidePane() {
    auto* pane = new QWidget(this);
    m_requests = new QListWidget(pane);
    m_requests->setObjectName("inspectorRequests");
    m_requests->setToolTip(tr("Requests holding blocks in the shown snapshot: click one to draw its block table"));
    m_requests->setIconSize(QSize(12, 12));
    m_requests->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    m_requests->setTextElideMode(Qt::ElideRight);
    m_requests->setUniformItemSizes(true);
    m_legend = new InspectorLegend(pane);
    m_byAdapter = new QCheckBox(tr("Colour blocks by LoRA adapter"), pane);
    m_byAdapter->setObjectName("colorByAdapter");
    m_byAdapter->setToolTip(
        tr("Colour each block by the adapter whose KV it holds (the base model or a LoRA adapter) instead of by "
           "request: adapters never share blocks, even for the same tokens"));
    connect(m_byAdapter, &QCheckBox::toggled, this, &InspectorPanel::setColorByAdapter);
    m_details = new QTextBrowser(pane);
    m_details->setObjectName("inspectorDetails");
    m_details->setOpenLinks(false);
    // Two lines each at the least (both scroll): the window still fits a 1280 x 800 screen.
    const int twoLines = 2 * fontMetrics().lineSpacing() + 8;
    m_requests->setMinimumHeight(twoLines);
    m_details->setMinimumHeight(twoLines);
    auto* layout = new QVBoxLayout(pane);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_byAdapter);
    layout->addWidget(m_legend);
    layout->addWidget(new QLabel(tr("<b>Requests</b> (click: block table)"), pane));
    layout->addWidget(m_requests, 1);
    layout->addWidget(new QLabel(tr("<b>Details</b>"), pane));
    layout->addWidget(m_details, 2);
    pane->setMinimumWidth(220);
    pane->setMaximumWidth(420);
    return pane;
}

const InspectorScene& InspectorPanel::scene() const {
    return m_grid->scene();
}

QString InspectorPanel::countersText() const {
    return m_counters->text();
}

QString InspectorPanel::detailsHtml() const {
    return m_details->toHtml();
}

QImage InspectorPanel::viewImage() const {
    return m_grid->grab().toImage();
}

void InspectorPanel::onSnapshot(std::shared_ptr<const EngineSnapshot> snapshot, double) {
    if (!m_timeline->isLive()) return;
    updateCounters(*snapshot);
    if (snapshot->detail == SnapshotDetail::Full) show(std::move(snapshot));
}

void InspectorPanel::onFrameSelected(int index) {
    const auto& frames = m_session->recorder()->frames();
    if (index < 0) {
        if (auto latest = m_session->latest()) updateCounters(*latest);
        if (auto full = m_session->latestFull()) show(full);
        return;
    }
    if (index >= int(frames.size())) return;
    const auto& snapshot = frames[std::size_t(index)].snapshot;
    updateCounters(*snapshot);
    show(snapshot);
}

QString InspectorPanel::noticeText() const {
    return m_notice->isHidden() ? QString() : m_notice->text();
}

void InspectorPanel::onModelLoaded(const ModelSummary& summary) {
    const bool blocks = summary.hasBlockState();
    // Another engine (or server): its request ids and blocks are not the old one's.
    m_selectedRequests.clear();
    m_pinned = -1;
    m_hover = -1;
    m_tokens = BlockTokens();
    m_tokensWanted = -1;
    updateHighlight();
    updateRequestList();
    updateDetails();
    updateNotice();
    m_grid->setVisible(blocks);
    if (!blocks) {
        m_grid->setScene(InspectorScene());
        updateRequestList();
        updateDetails();
    }
}

void InspectorPanel::updateNotice() {
    QStringList lines;
    const ModelSummary& summary = m_session->model();
    if (m_session->attached() && !m_session->remoteProblem().isEmpty()) {
        lines << tr("<span style=\"color:#b00020\"><b>%1 is not answering</b> (%2): what is drawn is its last "
                    "state.</span>")
                     .arg(m_session->attachedUrl().toHtmlEscaped(), m_session->remoteProblem().toHtmlEscaped());
    }
    if (m_session->modelReady() && !summary.hasBlockState()) {
        lines << tr("<b>Block-level state not available from %1 servers.</b><br>%2 says what its /metrics say: the "
                    "charts show it.")
                     .arg(summary.remoteKind.toHtmlEscaped(), summary.source.toHtmlEscaped());
    }
    m_notice->setText(lines.join(QStringLiteral("<br>")));
    m_notice->setVisible(!lines.isEmpty());
}

void InspectorPanel::setColorByAdapter(bool on) {
    if (m_byAdapter->isChecked() != on) m_byAdapter->setChecked(on);  // toggles back here
    const ColorBy colorBy = on ? ColorBy::Adapter : ColorBy::Request;
    if (colorBy == m_colorBy) return;
    m_colorBy = colorBy;
    const auto shown = scene().snapshotPtr();
    m_grid->setScene(InspectorScene(shown, m_colorBy));
    m_legend->setKey(m_colorBy, shown ? shown->loras : std::vector<std::string>{});
    updateRequestList();
}

void InspectorPanel::show(std::shared_ptr<const EngineSnapshot> snapshot) {
    if (!snapshot || snapshot.get() == scene().snapshot()) return;
    m_legend->setKey(m_colorBy, snapshot->loras);
    m_grid->setScene(InspectorScene(std::move(snapshot), m_colorBy));
    if (m_pinned >= scene().numBlocks()) m_pinned = -1;
    updateHighlight();
    updateRequestList();
    updateDetails();
}

void InspectorPanel::updateCounters(const EngineSnapshot& s) {
    const KvCacheStats& kv = s.kv.stats;
    const double savedMiB = double(s.metrics.sharing_saved_bytes) / (1024.0 * 1024.0);
    m_counters->setText(
        tr("<b>%1</b> used · <b>%2</b> cached · <b>%3</b> free of %4 blocks &nbsp;|&nbsp; usage <b>%5%</b> "
           "&nbsp;|&nbsp; "
           "fragmentation <b>%6%</b> &nbsp;|&nbsp; sharing saves <b>%7</b> blocks (%8 MiB) &nbsp;|&nbsp; prefix hit "
           "rate <b>%9%</b>")
            .arg(kv.num_used_blocks)
            .arg(kv.num_cached_free_blocks)
            .arg(kv.num_free_blocks)
            .arg(kv.num_blocks)
            .arg(100.0 * kv.usage(), 0, 'f', 1)
            .arg(100.0 * kv.fragmentation(), 0, 'f', 1)
            .arg(kv.num_saved_blocks)
            .arg(savedMiB, 0, 'f', savedMiB < 10 ? 2 : 1)
            .arg(100.0 * kv.prefix_hit_rate(), 0, 'f', 1));
}

void InspectorPanel::updateRequestList() {
    const auto live = scene().liveRequests();
    bool sameIds = int(live.size()) == m_requests->count();
    for (int i = 0; sameIds && i < int(live.size()); ++i)
        sameIds = m_requests->item(i)->data(Qt::UserRole).toLongLong() == live[std::size_t(i)].id;
    if (!sameIds) {
        m_requests->clear();
        for (const auto& r : live) {
            auto* item = new QListWidgetItem(m_requests);
            item->setData(Qt::UserRole, qint64(r.id));
        }
    }
    const bool byAdapter = m_colorBy == ColorBy::Adapter;
    for (int i = 0; i < int(live.size()); ++i) {
        const auto& r = live[std::size_t(i)];
        QListWidgetItem* item = m_requests->item(i);
        const QColor color = byAdapter ? adapterColor(r.lora) : requestColor(r.id);
        if (item->data(Qt::DecorationRole).value<QColor>() != color) item->setData(Qt::DecorationRole, color);
        const QString adapter = r.lora >= 0 ? QStringLiteral(" · ") + scene().loraName(r.lora) : QString();
        const QString text = tr("request %1%2 · %3 blocks%4 · %5")
                                 .arg(r.id)
                                 .arg(adapter)
                                 .arg(r.blocks)
                                 .arg(r.sequences > 1 ? tr(" · %1 samples").arg(r.sequences) : QString())
                                 .arg(r.running ? tr("running") : tr("waiting"));
        if (item->text() != text) item->setText(text);
        const bool selected =
            std::find(m_selectedRequests.begin(), m_selectedRequests.end(), r.id) != m_selectedRequests.end();
        if (item->isSelected() != selected) item->setSelected(selected);
    }
}

void InspectorPanel::selectRequest(qint64 requestId) {
    m_selectedRequests = requestId >= 0 ? std::vector<RequestId>{requestId} : std::vector<RequestId>{};
    m_pinned = -1;
    updateHighlight();
    updateRequestList();
    updateDetails();
}

void InspectorPanel::selectBlock(int block) {
    m_pinned = block;
    m_selectedRequests.clear();
    if (block >= 0 && block < scene().numBlocks()) {
        for (const auto& m : scene().mappings(block)) {
            if (std::find(m_selectedRequests.begin(), m_selectedRequests.end(), m.request) ==
                    m_selectedRequests.end() &&
                m_selectedRequests.size() < 12)
                m_selectedRequests.push_back(m.request);
        }
        askTokens(block);
    }
    updateHighlight();
    updateRequestList();
    updateDetails();
}

void InspectorPanel::updateHighlight() {
    InspectorHighlight h;
    h.requests = m_selectedRequests;
    h.block = m_pinned;
    m_grid->setHighlight(h);
}

void InspectorPanel::onHover(int block) {
    m_hover = block;
    updateDetails();
    if (block >= 0) m_tokenDelay->start();
}

void InspectorPanel::askTokens(int block) {
    if (block < 0 || block >= scene().numBlocks() || scene().kind(block) == BlockKind::Free) return;
    if (m_tokens.blockId == block && m_tokens.step == scene().snapshot()->step) return;
    m_tokensWanted = block;
    m_session->requestBlockTokens(block);
}

void InspectorPanel::onTokens(const BlockTokens& tokens) {
    if (tokens.blockId != m_tokensWanted) return;
    m_tokens = tokens;
    updateDetails();
}

void InspectorPanel::updateDetails() {
    const int block = m_hover >= 0 ? m_hover : m_pinned;
    QString html;
    if (block >= 0 && block < scene().numBlocks()) {
        html = blockDetailsHtml(scene(), block, m_tokens.blockId == block ? &m_tokens : nullptr);
    } else if (m_selectedRequests.size() == 1) {
        html = requestDetailsHtml(scene(), m_selectedRequests.front());
    } else {
        html =
            tr("Hover a block for its state, owners, hash and tokens. Click a block to pin it and draw the block "
               "tables of every sequence that maps to it; click a request (or double-click one of its blocks) to "
               "draw its block table as logical → physical arrows. Wheel: zoom · drag: pan.");
    }
    if (m_details->property("html").toString() != html) {
        m_details->setProperty("html", html);
        m_details->setHtml(html);
    }
}

}  // namespace kvscope::ui
