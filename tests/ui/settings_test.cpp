// What the workbench remembers: settings written and read back unchanged, every corrupt or
// out-of-range value falling back to its default, a rejected combination falling back to the
// default configuration, recent models, and the settings dialog's request and validation.

#include <QComboBox>
#include <QDialogButtonBox>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QTemporaryDir>
#include <QtTest>

#include "kernels/cuda/cuda_backend.h"
#include "tests/ui/qt_test_main.h"
#include "ui/settings_dialog.h"
#include "ui/workbench_settings.h"

namespace settings_test {

using namespace kvscope;
using namespace kvscope::ui;

class SettingsTest : public QObject {
    Q_OBJECT

private slots:
    void writtenSettingsReadBackUnchanged() {
        QTemporaryDir dir;
        QFile model(dir.filePath("m.gguf"));
        QVERIFY(model.open(QIODevice::WriteOnly));
        model.close();
        QSettings store(dir.filePath("s.ini"), QSettings::IniFormat);
        WorkbenchSettings s;
        s.load.source = dir.filePath("m.gguf");
        s.load.weightType = TensorType::Q4_K;
        s.load.kQuantMedium = true;
        s.load.config.block_size = 32;
        s.load.config.kv_cache_bytes = std::int64_t(64) << 20;
        s.load.config.num_kv_blocks = 500;
        s.load.config.cache_dtype = TensorType::F16;
        s.load.config.enable_prefix_caching = false;
        s.load.config.max_num_seqs = 8;
        s.load.config.max_num_batched_tokens = 512;
        s.load.config.num_threads = 3;
        s.load.config.backend = BackendKind::Auto;
        s.load.config.preemption_mode = PreemptionMode::Swap;
        s.addRecent("a.gguf");
        s.addRecent("b.gguf");
        s.addRecent("a.gguf");
        s.write(store);
        const WorkbenchSettings r = WorkbenchSettings::read(store);
        QCOMPARE(r.load.source, s.load.source);
        QCOMPARE(r.load.weightType, std::optional<TensorType>(TensorType::Q4_K));
        QCOMPARE(r.load.kQuantMedium, true);
        QCOMPARE(store.value("model/weightType").toString(), QString("Q4_K_M"));
        QCOMPARE(r.load.config.block_size, 32);
        QCOMPARE(r.load.config.kv_cache_bytes, std::int64_t(64) << 20);
        QCOMPARE(r.load.config.num_kv_blocks, std::optional<std::int32_t>(500));
        QCOMPARE(r.load.config.cache_dtype, TensorType::F16);
        QCOMPARE(r.load.config.enable_prefix_caching, false);
        QCOMPARE(r.load.config.max_num_seqs, 8);
        QCOMPARE(r.load.config.max_num_batched_tokens, 512);
        QCOMPARE(r.load.config.num_threads, 3);
        QCOMPARE(r.load.config.backend, BackendKind::Auto);
        QCOMPARE(r.load.config.preemption_mode, PreemptionMode::Swap);
        QCOMPARE(r.recentModels, (QStringList{"a.gguf", "b.gguf"}));
    }

    void corruptValuesFallBackToTheirDefaults() {
        QTemporaryDir dir;
        QSettings store(dir.filePath("s.ini"), QSettings::IniFormat);
        store.setValue("cache/blockSize", "banana");
        store.setValue("cache/budgetMiB", -5);
        store.setValue("cache/dtype", "Q9_9");
        store.setValue("cache/prefixCaching", "maybe");
        store.setValue("scheduler/maxNumSeqs", 123456789);
        store.setValue("model/weightType", "Q4_1");  // not a re-quantisation target
        store.setValue("model/source", dir.filePath("gone.gguf"));
        store.setValue("backend/threads", 32);
        store.setValue("backend/kind", "tpu");
        const WorkbenchSettings r = WorkbenchSettings::read(store);
        const EngineConfig d;
        QCOMPARE(r.load.config.block_size, d.block_size);
        QCOMPARE(r.load.config.kv_cache_bytes, d.kv_cache_bytes);
        QCOMPARE(r.load.config.cache_dtype, d.cache_dtype);
        QCOMPARE(r.load.config.enable_prefix_caching, d.enable_prefix_caching);
        QCOMPARE(r.load.config.max_num_seqs, d.max_num_seqs);
        QCOMPARE(r.load.config.num_threads, 32);  // a valid value next to bad ones is kept
        QCOMPARE(r.load.config.backend, d.backend);
        QCOMPARE(r.load.weightType, std::optional<TensorType>());
        QCOMPARE(r.load.source, embeddedModelSource());  // the file is gone: the embedded model
    }

    void cudaRememberedOnAMachineWithoutAGpuStartsOnAuto() {
        QTemporaryDir dir;
        QSettings store(dir.filePath("s.ini"), QSettings::IniFormat);
        store.setValue("backend/kind", "cuda");
        const WorkbenchSettings r = WorkbenchSettings::read(store);
        QCOMPARE(r.load.config.backend, kvscope::cuda_device_info().available ? BackendKind::Cuda : BackendKind::Auto);
    }

    void aCorruptSettingsFileGivesDefaultsAndIsRewrittenWhole() {
        QTemporaryDir dir;
        const QString path = dir.filePath("s.ini");
        const QByteArray garbage[] = {
            QByteArray("\xff\xfe\x00[cache\nblockSize=\xc3\x28\n\0\0=\n[[[\n", 24),
            QByteArray("[cache]\nblockSize=16\nbudgetMiB=") + QByteArray(200000, '9'),
            QByteArray(1 << 20, '\0'),
            QByteArray("[model]\nsource=\"unterminated\nweightType=@Variant(\0\0\0\x7f\xff\xff)\n[cache]blockSize"),
        };
        for (const QByteArray& bytes : garbage) {
            QFile f(path);
            QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
            f.write(bytes);
            f.close();
            QSettings store(path, QSettings::IniFormat);
            const bool unparsable = store.status() == QSettings::FormatError;
            const QString note = setAsideCorruptSettings(store);
            QCOMPARE(note.isEmpty(), !unparsable);
            if (unparsable) {
                QVERIFY2(note.contains(path + ".corrupt"), qPrintable(note));
                QVERIFY(QFile::exists(path + ".corrupt"));
            }
            const WorkbenchSettings r = WorkbenchSettings::read(store);
            QVERIFY(validateLoadRequest(r.load).isEmpty());
            QCOMPARE(r.load.source, embeddedModelSource());
            // Saving over the corrupt file gives one that reads back as written.
            WorkbenchSettings w = r;
            w.load.config.block_size = 32;
            w.addRecent("x.gguf");
            w.write(store);
            store.sync();
            QSettings again(path, QSettings::IniFormat);
            const WorkbenchSettings back = WorkbenchSettings::read(again);
            QCOMPARE(back.load.config.block_size, 32);
            QCOMPARE(back.recentModels, QStringList{"x.gguf"});
        }
    }

    void aCombinationTheEngineRejectsFallsBackToTheDefaultConfiguration() {
        QTemporaryDir dir;
        QSettings store(dir.filePath("s.ini"), QSettings::IniFormat);
        store.setValue("cache/blockSize", 7);  // in range for the reader, not for EngineConfig
        store.setValue("scheduler/maxNumSeqs", 5);
        const WorkbenchSettings r = WorkbenchSettings::read(store);
        QVERIFY(!validateLoadRequest(LoadRequest{embeddedModelSource(),
                                                 {},
                                                 [] {
                                                     EngineConfig c;
                                                     c.block_size = 7;
                                                     return c;
                                                 }()})
                     .isEmpty());
        QCOMPARE(r.load.config.block_size, EngineConfig{}.block_size);
        QCOMPARE(r.load.config.max_num_seqs, EngineConfig{}.max_num_seqs);
    }

    void anEmptyStoreGivesTheEmbeddedModelAndDefaults() {
        QTemporaryDir dir;
        QSettings store(dir.filePath("none.ini"), QSettings::IniFormat);
        const WorkbenchSettings r = WorkbenchSettings::read(store);
        QCOMPARE(r.load.source, embeddedModelSource());
        QVERIFY(validateLoadRequest(r.load).isEmpty());
        QVERIFY(r.recentModels.isEmpty());
    }

    void recentModelsAreCapped() {
        WorkbenchSettings s;
        for (int i = 0; i < 20; ++i) s.addRecent(QString("m%1.gguf").arg(i));
        QCOMPARE(s.recentModels.size(), WorkbenchSettings::kMaxRecent);
        QCOMPARE(s.recentModels.front(), QString("m19.gguf"));
    }

    void aNewDialogAsksForTheFileItIsGivenEvenTheDefaultOne() {
        SettingsDialog dialog;  // starts on the embedded model
        QSignalSpy inspect(&dialog, &SettingsDialog::inspectRequested);
        dialog.setRequest(LoadRequest{embeddedModelSource(), std::nullopt, EngineConfig{}});
        QCOMPARE(inspect.count(), 1);
        QCOMPARE(inspect.at(0).at(0).toString(), embeddedModelSource());
    }

    void theWeightsMenuOffersEveryReQuantisationTarget() {
        SettingsDialog dialog;
        auto* weights = dialog.findChild<QComboBox*>("weightType");
        QVERIFY(weights);
        const std::vector<std::optional<TensorType>> want = {std::nullopt,     TensorType::F16,  TensorType::Q8_0,
                                                             TensorType::Q6_K, TensorType::Q5_K, TensorType::Q4_K,
                                                             TensorType::Q4_0, TensorType::Q4_K, TensorType::Q5_K};
        QCOMPARE(weights->count(), int(want.size()));
        for (int i = 0; i < weights->count(); ++i) {
            weights->setCurrentIndex(i);
            QCOMPARE(dialog.request().weightType, want[std::size_t(i)]);
            QCOMPARE(dialog.request().kQuantMedium, i >= 7);  // the last two: llama.cpp's _M mixtures
            const LoadRequest shown = dialog.request();
            dialog.setRequest(shown);  // and back: the same entry
            QCOMPARE(weights->currentIndex(), i);
        }
        QCOMPARE(weights->itemText(5), QString("re-quantised to Q4_K"));
        QCOMPARE(weights->itemText(7), QString("re-quantised to Q4_K_M (llama.cpp's mixture)"));
    }

    void theWeightsEstimateFollowsTheChoice() {
        SettingsDialog dialog;
        LoadRequest r;
        r.source = "/models/m.gguf";
        dialog.setRequest(r);
        auto* weights = dialog.findChild<QComboBox*>("weightType");
        auto* estimate = dialog.findChild<QLabel*>("weightsEstimate");
        QVERIFY(weights && estimate);
        QVERIFY(estimate->text().isEmpty());  // nothing read yet
        ModelFileInfo info;
        info.source = "/models/m.gguf";
        info.weightBytes = 4 << 20;
        info.numMatrices = 10;
        info.requantized = {{"Q8_0", 1 << 20, 8}, {"Q4_K", 4 << 20, 0}, {"Q4_K_M", 3 << 20, 10}};
        dialog.setFileInfo(info);
        QCOMPARE(estimate->text(), QString("4.0 MiB"));
        weights->setCurrentIndex(weights->findData(QString("Q8_0")));
        QCOMPARE(estimate->text(), QString("4.0 MiB → 1.0 MiB (8 of 10 weights)"));
        weights->setCurrentIndex(weights->findData(QString("Q4_K")));
        QCOMPARE(estimate->text(), QString("4.0 MiB (no weight's rows fit Q4_K's blocks: kept as stored)"));
        weights->setCurrentIndex(weights->findData(QString("Q4_K_M")));
        QCOMPARE(estimate->text(), QString("4.0 MiB → 3.0 MiB (10 of 10 weights)"));
        // another file chosen: cleared until its header comes
        dialog.setRequest(LoadRequest{"/models/other.gguf", std::nullopt, EngineConfig{}});
        QVERIFY(estimate->text().isEmpty());
    }

    void theDialogReturnsWhatItShowsAndRefusesBadSettings() {
        SettingsDialog dialog;
        QSignalSpy inspect(&dialog, &SettingsDialog::inspectRequested);
        LoadRequest r;
        r.source = "/models/x.gguf";
        r.weightType = TensorType::Q8_0;
        r.config.block_size = 8;
        r.config.cache_dtype = TensorType::Q8_0;
        r.config.kv_cache_bytes = std::int64_t(32) << 20;
        r.config.max_num_seqs = 4;
        r.config.backend = BackendKind::Auto;
        r.config.preemption_mode = PreemptionMode::Swap;
        dialog.setRequest(r);
        QCOMPARE(inspect.count(), 1);
        QCOMPARE(inspect.at(0).at(0).toString(), QString("/models/x.gguf"));
        const LoadRequest back = dialog.request();
        QCOMPARE(back.source, r.source);
        QCOMPARE(back.weightType, r.weightType);
        QCOMPARE(back.config.block_size, 8);
        QCOMPARE(back.config.cache_dtype, TensorType::Q8_0);
        QCOMPARE(back.config.kv_cache_bytes, std::int64_t(32) << 20);
        QCOMPARE(back.config.max_num_seqs, 4);
        QCOMPARE(back.config.backend, BackendKind::Auto);
        QCOMPARE(back.config.preemption_mode, PreemptionMode::Swap);
        QVERIFY(dialog.problems().isEmpty());
        auto* ok = dialog.findChild<QDialogButtonBox*>()->button(QDialogButtonBox::Ok);
        QVERIFY(ok->isEnabled());
        // A file's header fills the summary; an answer for another file is ignored.
        ModelFileInfo info;
        info.source = "/other.gguf";
        info.summary = "nope";
        dialog.setFileInfo(info);
        QVERIFY(!dialog.findChild<QLabel*>("modelFileSummary")->text().contains("nope"));
        info.source = "/models/x.gguf";
        info.error = "/models/x.gguf: cannot open the file";
        dialog.setFileInfo(info);
        QVERIFY(dialog.findChild<QLabel*>("modelFileSummary")->text().contains("cannot open"));
        // The spin boxes only offer values EngineConfig accepts; a missing model is a problem.
        auto* source = dialog.findChild<QLineEdit*>("modelSource");
        source->setText("");
        QMetaObject::invokeMethod(source, "editingFinished");
        QCOMPARE(dialog.problems(), QStringList{"choose a model file (or the embedded model)"});
        QVERIFY(!ok->isEnabled());
        QVERIFY(!dialog.findChild<QLabel*>("settingsProblems")->text().isEmpty());
        // The CUDA entry is enabled exactly when a device answers, and says why not otherwise.
        auto* backend = dialog.findChild<QComboBox*>("backend");
        const auto* items = qobject_cast<QStandardItemModel*>(backend->model());
        QVERIFY(items != nullptr);
        QCOMPARE(items->item(1)->isEnabled(), cuda_device_info().available);
        if (!cuda_device_info().available)
            QVERIFY(backend->itemText(1).contains(QString::fromStdString(cuda_device_info().reason)));
    }

    // A file the dialog has reported as unloadable (unreadable, or read but not runnable here)
    // cannot be loaded; another path, and a file that runs, can.
    void loadIsOffWhileTheChosenFileIsKnownNotToLoad() {
        SettingsDialog dialog;
        dialog.setRequest(LoadRequest{"/models/bad.gguf", std::nullopt, EngineConfig{}});
        auto* ok = dialog.findChild<QDialogButtonBox*>()->button(QDialogButtonBox::Ok);
        auto* source = dialog.findChild<QLineEdit*>("modelSource");
        auto* summary = dialog.findChild<QLabel*>("modelFileSummary");
        QVERIFY(ok->isEnabled());  // not read yet
        ModelFileInfo bad;
        bad.source = "/models/bad.gguf";
        bad.error = "/models/bad.gguf: not a GGUF file";
        dialog.setFileInfo(bad);
        QVERIFY(summary->text().contains("not a GGUF file"));
        QVERIFY(!ok->isEnabled());
        QVERIFY(dialog.problems().isEmpty());  // the settings themselves are fine

        source->setText("/models/good.gguf");
        QVERIFY(ok->isEnabled());  // another file: Load again while its header is read
        QMetaObject::invokeMethod(source, "editingFinished");
        QVERIFY(ok->isEnabled());
        ModelFileInfo good;
        good.source = "/models/good.gguf";
        good.runnable = true;
        good.summary = "good (llama)";
        dialog.setFileInfo(good);
        QVERIFY(ok->isEnabled());

        source->setText("/models/odd.gguf");
        QMetaObject::invokeMethod(source, "editingFinished");
        ModelFileInfo odd;
        odd.source = "/models/odd.gguf";
        odd.runProblem = "unsupported architecture 'mamba'";
        dialog.setFileInfo(odd);
        QVERIFY(summary->text().contains("mamba"));
        QVERIFY(!ok->isEnabled());

        dialog.setRequest(LoadRequest{"/models/good.gguf", std::nullopt, EngineConfig{}});
        QVERIFY(ok->isEnabled());
    }
};

}  // namespace settings_test

KVSCOPE_QTEST_MAIN(settings_test, SettingsTest)
#include "settings_test.moc"
