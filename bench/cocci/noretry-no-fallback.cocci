// Coccinelle equivalent of reclaimscope's `noretry-no-fallback` rule, for
// the benchmark in bench/kernel-scan: an allocation whose gfp argument
// spells __GFP_NORETRY, whose NULL test only returns or jumps to an error
// label, with no second assignment to the result on that path.
// Like any SmPL rule it sees the flag only where it is written in the call
// (no locals, no #defines), which is the comparison the benchmark makes.
//
// Confidence: Moderate
// Options: --no-includes --include-headers

virtual report

@r exists@
expression E;
identifier alloc, l;
expression ERR;
position p;
@@

E = alloc@p(..., <+... __GFP_NORETRY ...+>, ...);
... when != E = ...
(
if (\(!E\|E == NULL\|unlikely(!E)\)) return ERR;
|
if (\(!E\|E == NULL\|unlikely(!E)\)) goto l;
|
if (\(!E\|E == NULL\|unlikely(!E)\)) {
  ... when != E = ...
  return ERR;
}
|
if (\(!E\|E == NULL\|unlikely(!E)\)) {
  ... when != E = ...
  goto l;
}
)

@d exists@
identifier x, alloc, l;
expression ERR;
type T;
position p;
@@

T x = alloc@p(..., <+... __GFP_NORETRY ...+>, ...);
... when != x = ...
(
if (\(!x\|x == NULL\|unlikely(!x)\)) return ERR;
|
if (\(!x\|x == NULL\|unlikely(!x)\)) goto l;
|
if (\(!x\|x == NULL\|unlikely(!x)\)) {
  ... when != x = ...
  return ERR;
}
|
if (\(!x\|x == NULL\|unlikely(!x)\)) {
  ... when != x = ...
  goto l;
}
)

@script:python depends on report && r@
p << r.p;
@@
coccilib.report.print_report(p[0], "__GFP_NORETRY allocation without fallback [noretry-no-fallback]")

@script:python depends on report && d@
p << d.p;
@@
coccilib.report.print_report(p[0], "__GFP_NORETRY allocation without fallback [noretry-no-fallback]")
