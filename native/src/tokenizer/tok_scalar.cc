// The tokenizer hot loops for any x86-64 (and any other CPU): one byte at a time.
#include "tok_core.h"

namespace lmp {
namespace tok {
namespace scalar {
#define LMP_TOK_ISA 0
#define LMP_TOK_NAME "scalar"
#include "tok_scan.inc"
#undef LMP_TOK_NAME
#undef LMP_TOK_ISA
}  // namespace scalar
}  // namespace tok
}  // namespace lmp
