#pragma once
// The lab's report as JSON: what `kvscope-cli lab --json` prints and a workbench export writes
// (docs/MEMORY_LAB.md has the shape). The time series are columns (one array per field), every
// `stride`-th step, so that a chart takes them as they are.

#include <string>

#include "engine/lab/lab_result.h"

namespace kvscope::lab {

struct LabJsonOptions {
    std::string trace_path;        // named in "trace"
    int max_series_points = 2000;  // per allocator; 0 leaves the series out
    int indent = -1;               // -1: one line
};

std::string lab_report_json(const LabReport& report, const LabJsonOptions& options = {});

}  // namespace kvscope::lab
