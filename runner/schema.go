package runner

import _ "embed"

// ReportSchema is the JSON Schema (draft 2020-12) of Report, format
// version 1.
//
//go:embed schema/report.v1.json
var ReportSchema []byte
