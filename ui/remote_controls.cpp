#include "ui/remote_controls.h"

#include <QAction>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMessageBox>
#include <QSpinBox>
#include <QStatusBar>

#include <utility>

#include "ui/main_window.h"
#include "ui/session.h"

namespace kvscope::ui {
namespace {

constexpr int kMessageMs = 15000;

QDialog* formDialog(QWidget* parent, const QString& title, QFormLayout*& form) {
    auto* dialog = new QDialog(parent);
    dialog->setWindowTitle(title);
    form = new QFormLayout(dialog);
    return dialog;
}

void addButtons(QDialog* dialog, QFormLayout* form) {
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, dialog);
    QObject::connect(buttons, &QDialogButtonBox::accepted, dialog, &QDialog::accept);
    QObject::connect(buttons, &QDialogButtonBox::rejected, dialog, &QDialog::reject);
    form->addRow(buttons);
}

QLineEdit* keyEdit(QWidget* parent, const QString& key) {
    auto* edit = new QLineEdit(key, parent);
    edit->setEchoMode(QLineEdit::PasswordEchoOnEdit);
    edit->setPlaceholderText(QObject::tr("none"));
    return edit;
}

}  // namespace

RemoteControls::RemoteControls(MainWindow* window, Session* session)
    : QObject(window), m_window(window), m_session(session) {
    setObjectName("remoteControls");
    QMenu* engine = window->menu(MainWindow::Menu::Engine);
    engine->addSeparator();
    m_serve = engine->addAction(tr("Ser&ve over HTTP…"));
    m_serve->setObjectName("serveAction");
    m_serve->setCheckable(true);
    m_serve->setToolTip(tr("Run the OpenAI-compatible server on this engine: HTTP clients share it with the panels."));
    connect(m_serve, &QAction::triggered, this, [this](bool on) {
        m_serve->setChecked(m_session->serving());  // follows the server's answer, not the click
        if (on) {
            askServe();
        } else {
            m_session->stopServing();
        }
    });

    QMenu* file = window->menu(MainWindow::Menu::File);
    QAction* quit = file->actions().isEmpty() ? nullptr : file->actions().constLast();
    m_attach = new QAction(tr("&Attach to Server…"), this);
    m_attach->setObjectName("attachAction");
    m_detach = new QAction(tr("&Detach from Server"), this);
    m_detach->setObjectName("detachAction");
    m_detach->setEnabled(false);
    file->insertAction(quit, m_attach);
    file->insertAction(quit, m_detach);
    file->insertSeparator(quit);
    connect(m_attach, &QAction::triggered, this, &RemoteControls::askAttach);
    connect(m_detach, &QAction::triggered, m_session, &Session::detach);

    m_label = new QLabel(window);
    m_label->setObjectName("remoteLabel");
    m_label->setVisible(false);
    window->addStatusWidget(m_label);
    connect(session, &Session::servingChanged, this, &RemoteControls::onServingChanged);
    connect(session, &Session::attachChanged, this, &RemoteControls::onAttachChanged);
    connect(session, &Session::remoteAnsweringChanged, this, &RemoteControls::updateLabel);
}

QString RemoteControls::statusText() const {
    return m_label->isHidden() ? QString() : m_label->text();
}

void RemoteControls::askServe() {
    QFormLayout* form = nullptr;
    QDialog* dialog = formDialog(m_window, tr("Serve over HTTP"), form);
    auto* host = new QLineEdit(m_lastServe.host, dialog);
    auto* port = new QSpinBox(dialog);
    port->setRange(1, 65535);
    port->setValue(m_lastServe.port);
    QLineEdit* key = keyEdit(dialog, m_lastServe.apiKey);
    form->addRow(new QLabel(tr("OpenAI-compatible API on this workbench's engine (/v1/completions, "
                               "/v1/chat/completions, /metrics, /v1/kv/snapshot)."),
                            dialog));
    form->addRow(tr("Host:"), host);
    form->addRow(tr("Port:"), port);
    form->addRow(tr("API key:"), key);
    addButtons(dialog, form);
    if (dialog->exec() == QDialog::Accepted) {
        m_lastServe = {host->text().trimmed(), port->value(), key->text()};
        m_serveAsked = true;
        m_session->serve(m_lastServe);
    }
    dialog->deleteLater();
}

void RemoteControls::askAttach() {
    QFormLayout* form = nullptr;
    QDialog* dialog = formDialog(m_window, tr("Attach to Server"), form);
    auto* url =
        new QLineEdit(m_lastAttach.url.isEmpty() ? QStringLiteral("http://127.0.0.1:8000") : m_lastAttach.url, dialog);
    url->setMinimumWidth(280);
    QLineEdit* key = keyEdit(dialog, m_lastAttach.apiKey);
    form->addRow(
        new QLabel(tr("A kvscope server shows its blocks; a vLLM or llama.cpp server fills the charts."), dialog));
    form->addRow(tr("URL:"), url);
    form->addRow(tr("API key:"), key);
    addButtons(dialog, form);
    if (dialog->exec() == QDialog::Accepted) {
        m_lastAttach = {url->text().trimmed(), key->text()};
        m_window->statusBar()->showMessage(tr("Attaching to %1…").arg(m_lastAttach.url), kMessageMs);
        m_attachAsked = true;
        m_session->attach(m_lastAttach);
    }
    dialog->deleteLater();
}

void RemoteControls::onServingChanged(bool serving, const QString&, const QString& message) {
    m_serve->setChecked(serving);
    if (!message.isEmpty()) m_window->statusBar()->showMessage(message, kMessageMs);
    if (std::exchange(m_serveAsked, false) && !serving && !message.isEmpty())
        showProblem(tr("Serve over HTTP"), message);
    updateLabel();
}

void RemoteControls::showProblem(const QString& title, const QString& message) {
    auto* box = new QMessageBox(QMessageBox::Warning, title, message, QMessageBox::Ok, m_window);
    box->setObjectName("remoteProblem");
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();  // window-modal, and the event loop goes on
}

void RemoteControls::onAttachChanged(const QString& url, const QString& message) {
    m_detach->setEnabled(!url.isEmpty());
    if (std::exchange(m_attachAsked, false) && url.isEmpty() && !message.isEmpty())
        showProblem(tr("Attach to Server"), message);
    if (!message.isEmpty()) {
        m_window->statusBar()->showMessage(message, kMessageMs);
    } else {
        m_window->statusBar()->showMessage(
            url.isEmpty() ? tr("Back on the embedded engine.") : tr("Attached to %1.").arg(url), kMessageMs);
    }
    updateLabel();
}

void RemoteControls::updateLabel() {
    QStringList parts;
    if (m_session->attached()) {
        parts << (m_session->remoteProblem().isEmpty()
                      ? tr("⇄ attached to %1").arg(m_session->attachedUrl().toHtmlEscaped())
                      : tr("<span style=\"color:#b00020\">⚠ %1 is not answering: the views show its last "
                           "state</span>")
                            .arg(m_session->attachedUrl().toHtmlEscaped()));
    }
    if (m_session->serving()) parts << tr("● serving on %1").arg(m_session->servingAddress().toHtmlEscaped());
    m_label->setToolTip(m_session->remoteProblem());
    m_label->setText(parts.join(QStringLiteral(" · ")));
    m_label->setVisible(!parts.isEmpty());
}

}  // namespace kvscope::ui
