//! What the gfp evaluator asks the whole tree: the value a call returns,
//! a macro's body, and a parameter as the union of what callers pass.

use super::{
    CallSite, ChainStep, Interproc, MAX_DEPTH, MAX_PARAM_CALLERS, MAX_PARAM_DEPTH, call_at,
};
use crate::gfpeval::Resolver;
use crate::syntax::call_args;
use reclaimscope_model::gfp::GfpValue;

impl Resolver for Interproc {
    fn call_value(
        &self,
        callee: &str,
        from_file: &str,
        args: &[GfpValue],
        depth: u32,
    ) -> Option<GfpValue> {
        if depth > MAX_DEPTH {
            return None;
        }
        let f = self.index.file_id(from_file);
        let defs: Vec<u32> = self
            .resolve(callee, f)
            .into_iter()
            .filter(|&d| self.index.defs[d as usize].rec.ret.contains("gfp_t"))
            .collect();
        let mut out: Option<GfpValue> = None;
        for d in defs {
            let key = (d, args.to_vec(), depth);
            let cached = self.lock().returned.get(&key).copied();
            let v = match cached {
                Some(v) => v,
                None => {
                    let v = self
                        .with_eval(d, Some(args.to_vec()), depth, |_, func, _| {
                            let mut acc: Option<GfpValue> = None;
                            for r in &func.returns {
                                let mut c = r.walk();
                                let Some(e) =
                                    r.named_children(&mut c).find(|n| n.kind() != "comment")
                                else {
                                    continue;
                                };
                                let v = func.eval.eval(e);
                                acc = Some(acc.map_or(v, |a| a.join(v)));
                            }
                            acc
                        })
                        .flatten();
                    self.lock().returned.insert(key, v);
                    v
                }
            };
            let v = v?;
            out = Some(out.map_or(v, |o| o.join(v)));
        }
        out
    }

    fn param_value(&self, file: &str, func: &str, idx: usize, depth: u32) -> GfpValue {
        if depth > MAX_PARAM_DEPTH {
            return GfpValue::UNKNOWN;
        }
        let Some(def) = self
            .index
            .file_id(file)
            .and_then(|f| self.index.def_named_in(f, func))
        else {
            return GfpValue::UNKNOWN;
        };
        if let Some(v) = self.lock().params.get(&(def, idx, depth)) {
            return *v;
        }
        let v = self.param_value_uncached(def, idx, depth);
        self.lock().params.insert((def, idx, depth), v);
        v
    }

    fn define_body(&self, name: &str) -> Option<String> {
        if !name
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
        {
            return None;
        }
        if let Some(b) = self.lock().macro_bodies.get(name) {
            return b.clone();
        }
        // Generic headers win over arch/ ones; different bodies are ambiguous.
        let mut best: Option<(bool, String)> = None;
        let mut ambiguous = false;
        let sites: Vec<(u32, u32)> = self.index.define_sites(name).collect();
        for (file, off) in sites {
            let path = self.file_name(file);
            if !path.ends_with(".h") {
                continue;
            }
            let arch = path.starts_with("arch/") || path.contains("/arch/");
            let Some(src) = self.source(file) else {
                continue;
            };
            let Some(before) = src.get(..off as usize) else {
                continue;
            };
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let Some((_, body)) = crate::analyze::textual_defines(&src[line_start..])
                .into_iter()
                .next()
            else {
                continue;
            };
            let (prev_arch, same) = match &best {
                None => (None, false),
                Some((a, b)) => (Some(*a), *b == body),
            };
            match prev_arch {
                None => best = Some((arch, body)),
                Some(true) if !arch => {
                    best = Some((arch, body));
                    ambiguous = false;
                }
                Some(a) if a == arch && !same => ambiguous = true,
                _ => {}
            }
        }
        let out = if ambiguous { None } else { best.map(|b| b.1) };
        self.lock()
            .macro_bodies
            .insert(name.to_string(), out.clone());
        out
    }
}

impl Interproc {
    fn param_value_uncached(&self, def: u32, idx: usize, depth: u32) -> GfpValue {
        if self.address_taken(def).is_some() {
            return GfpValue::UNKNOWN;
        }
        let callers = self.callers_of(def);
        if callers.is_empty() || callers.len() > MAX_PARAM_CALLERS {
            return GfpValue::UNKNOWN;
        }
        let mut acc: Option<GfpValue> = None;
        for &site in callers.iter() {
            let v = self
                .with_eval(site.caller, None, depth, |_, func, p| {
                    let call = call_at(func, (site.offset as usize).saturating_sub(p.start))?;
                    let arg = *call_args(call).get(idx)?;
                    Some(func.eval.eval(arg))
                })
                .flatten()
                .unwrap_or(GfpValue::UNKNOWN);
            acc = Some(acc.map_or(v, |a| a.join(v)));
        }
        acc.unwrap_or(GfpValue::UNKNOWN)
    }

    /// One caller's chain step for a call site.
    pub fn step(&self, site: CallSite, note: String) -> ChainStep {
        ChainStep {
            file: self.file_name(site.file).to_string(),
            line: self.line_of(site.file, site.offset),
            function: self.def_name(site.caller).to_string(),
            note,
        }
    }
}
