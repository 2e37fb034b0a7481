#include "ui/lora_panel.h"

#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

#include "ui/session.h"

namespace kvscope::ui {

LoraPanel::LoraPanel(Session* session, QWidget* parent) : QWidget(parent), m_session(session) {
    m_table = new QTableWidget(0, 5, this);
    m_table->setObjectName("loraTable");
    m_table->setHorizontalHeaderLabels({tr("Name"), tr("Rank"), tr("Alpha"), tr("Matrices"), tr("File")});
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->verticalHeader()->setVisible(false);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_error = new QLabel(this);
    m_error->setObjectName("loraError");
    m_error->setWordWrap(true);
    m_error->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_error->setStyleSheet(QStringLiteral("color:#b00020"));
    m_error->setVisible(false);
    m_load = new QPushButton(tr("Load Adapter…"), this);
    m_load->setObjectName("loadLora");
    m_load->setToolTip(tr("Load a LoRA adapter (GGUF, made for this base model); chat turns pick it by name"));
    m_unload = new QPushButton(tr("Unload"), this);
    m_unload->setObjectName("unloadLora");
    m_unload->setToolTip(tr("Unload the selected adapter (once no request under it is left) and free its memory"));
    auto* hint =
        new QLabel(tr("Chat turns pick an adapter by name; the inspector can colour blocks by adapter."), this);
    hint->setWordWrap(true);
    hint->setStyleSheet(QStringLiteral("color:#666"));
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(hint, 1);
    buttons->addWidget(m_unload);
    buttons->addWidget(m_load);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(m_table, 1);
    layout->addWidget(m_error);
    layout->addLayout(buttons);

    connect(m_load, &QPushButton::clicked, this, &LoraPanel::chooseAndLoad);
    connect(m_unload, &QPushButton::clicked, this, [this] {
        const QList<QTableWidgetItem*> selected = m_table->selectedItems();
        if (!selected.isEmpty()) unload(m_table->item(selected.first()->row(), 0)->text());
    });
    connect(m_table, &QTableWidget::itemSelectionChanged, this, &LoraPanel::updateButtons);
    connect(session, &Session::lorasChanged, this, &LoraPanel::refresh);
    connect(session, &Session::loraLoadFailed, this, &LoraPanel::showError);
    connect(session, &Session::attachChanged, this, &LoraPanel::refresh);
    connect(session, &Session::loadStarted, this, [this] {  // what a new model drops is said afresh
        m_error->clear();
        m_error->setVisible(false);
    });
    refresh();
}

QString LoraPanel::errorText() const {
    return m_error->isHidden() ? QString() : m_error->text();
}

void LoraPanel::chooseAndLoad() {
    const QString path = QFileDialog::getOpenFileName(this, tr("Load LoRA Adapter"), QString(),
                                                      tr("GGUF adapters (*.gguf);;All files (*)"));
    if (path.isEmpty()) return;
    bool ok = false;
    const QString name =
        QInputDialog::getText(this, tr("Load LoRA Adapter"), tr("Name (requests pick the adapter by it):"),
                              QLineEdit::Normal, QFileInfo(path).completeBaseName(), &ok);
    if (ok) loadFile(path, name);
}

void LoraPanel::loadFile(const QString& path, const QString& name) {
    m_error->clear();
    m_error->setVisible(false);
    m_session->loadLora({name.trimmed().isEmpty() ? QFileInfo(path).completeBaseName() : name.trimmed(), path});
}

void LoraPanel::unload(const QString& name) {
    m_error->clear();
    m_error->setVisible(false);
    m_session->unloadLora(name);
}

void LoraPanel::refresh() {
    const QVector<LoraSummary>& loras = m_session->loras();
    m_table->setRowCount(int(loras.size()));
    for (int i = 0; i < int(loras.size()); ++i) {
        const LoraSummary& l = loras[i];
        const QStringList cells = {l.name, QString::number(l.rank), QString::number(l.alpha, 'g', 4),
                                   QString::number(l.numPairs), l.source};
        for (int c = 0; c < int(cells.size()); ++c) {
            auto* item = new QTableWidgetItem(cells[c]);
            item->setToolTip(cells[c]);
            m_table->setItem(i, c, item);
        }
    }
    m_table->resizeColumnsToContents();
    updateButtons();
}

void LoraPanel::updateButtons() {
    // Adapters are loaded onto (and unloaded from) the embedded engine only.
    m_load->setEnabled(!m_session->attached());
    m_unload->setEnabled(!m_session->attached() && !m_table->selectedItems().isEmpty());
}

void LoraPanel::showError(const QString& message) {
    // Several at once (adapters dropped with the previous model): one per line.
    m_error->setText(m_error->isHidden() ? message : m_error->text() + QLatin1Char('\n') + message);
    m_error->setVisible(true);
    // Wherever the panel is docked, bring it forward so the message is seen.
    for (QWidget* w = parentWidget(); w; w = w->parentWidget()) {
        if (auto* dock = qobject_cast<QDockWidget*>(w)) {
            dock->show();
            dock->raise();
            break;
        }
    }
}

}  // namespace kvscope::ui
