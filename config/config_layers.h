// Private to config/: the validation layers after the libconfig parse (STYLE #20).
//
//   config_prescan.cc   layer 1a: what libconfig 1.5 would accept wrongly (see there)
//   config_load.cc      layer 1: read the text, libconfig parse       -> syntax errors
//   config_schema.cc    layer 2: keys, types, ranges, value formats    -> Config + errors
//   config_validate.cc  layer 3: cross-field rules and file checks     -> errors
//
// Every layer reports into one Diagnostics so all errors are returned together.
#pragma once

#include <libconfig.h++>
#include <string>

#include "config/config.h"
#include "config/config_diagnostics.h"

namespace tg::config::detail {

/// Layer 1a, before libconfig sees the text. Reports (1) NUL bytes, which libconfig would
/// silently treat as the end of the text; (2) @include directives, which tunnelgate does not
/// support (one file, so --check-config and every error line refer to that file, and a
/// config cannot make the loader open arbitrary paths); (3) integer literals outside the
/// 32-bit range without an L suffix, which libconfig 1.5 wraps silently (3000000000 is read
/// as -1294967296). Returns false when it reported anything; the caller then stops.
bool config_prescan(const std::string& text, Diagnostics& diag);

/// Layer 2. Reads the root group into `out`, applying defaults for absent keys. Values that
/// fail a check are reported and left at their default; their keys are marked rejected in
/// `diag` so layer 3 skips them. List elements keep their index, even when rejected.
void config_schema_read(const libconfig::Setting& root, Config& out, Diagnostics& diag);

/// Layer 3. Cross-field rules (uniqueness, overlaps, references between sections, required
/// combinations) and the existence/readability of every named file. Fills derived values:
/// an app's pool when exactly one pool exists, and relative file paths resolved against
/// `base_dir` (the config file's directory; "" keeps them relative to the working directory).
void config_semantics_check(Config& cfg, const std::string& base_dir, Diagnostics& diag);

}  // namespace tg::config::detail
