// Package corpustest checks ws against the devfile corpus in ../shared:
// every valid devfile compiles to a schema-valid job or is refused with a
// documented diagnostic, every invalid one is rejected with a position, the
// CLI exits 3 on them, and parent merging and {{variable}} substitution give
// devfile/api's expected results. It holds tests only.
package corpustest
