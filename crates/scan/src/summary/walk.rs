//! The caller walk behind `nofs-scope-coverage`: from an allocation's
//! function up every caller chain to an entry point, a scope, the depth
//! bound or a function pointer, keeping one covered, one uncovered and one
//! unknown chain.

use super::{ChainStep, Coverage, Interproc, MAX_DEPTH, MAX_VISITS};
use crate::analyze::ScopeKind;
use reclaimscope_model::entry::CallerScope;
use reclaimscope_model::task::Scope;

impl Interproc {
    /// [`Interproc::coverage`] of `def`'s entry, chains without the site.
    pub(super) fn coverage_of(&self, def: u32, noio: bool) -> Coverage {
        let mut w = Walk {
            ip: self,
            noio,
            covered: None,
            uncovered: None,
            unknown: None,
            visits: 0,
            path: vec![def],
        };
        w.up(def, Vec::new(), 1);
        match (w.covered, w.uncovered, w.unknown) {
            (Some(c), None, None) => Coverage::Covered(c),
            (Some(c), Some(u), _) => Coverage::Mixed(c, u),
            (None, Some(u), _) => Coverage::Uncovered(u),
            (_, None, Some((why, ch))) => Coverage::Unknown(why, ch),
            (None, None, None) => {
                Coverage::Unknown("every caller chain found is recursive".into(), Vec::new())
            }
        }
    }
}

struct Walk<'a> {
    ip: &'a Interproc,
    noio: bool,
    covered: Option<Vec<ChainStep>>,
    uncovered: Option<Vec<ChainStep>>,
    unknown: Option<(String, Vec<ChainStep>)>,
    visits: usize,
    path: Vec<u32>,
}

impl Walk<'_> {
    fn up(&mut self, def: u32, chain: Vec<ChainStep>, depth: u32) {
        let ip = self.ip;
        let name = ip.def_name(def).to_string();
        let entries = ip.entries(def);
        if let Some(why) = &entries.unknown {
            self.unknown.get_or_insert((why.clone(), chain.clone()));
        }
        for hit in &entries.roots {
            self.root(&name, hit, &chain);
        }
        if entries.sites.is_empty() {
            if entries.unknown.is_none() && entries.roots.is_empty() {
                self.uncovered.get_or_insert(chain);
            }
            return;
        }
        if depth > MAX_DEPTH {
            self.unknown.get_or_insert((
                format!("the caller chain is longer than {MAX_DEPTH} calls"),
                chain,
            ));
            return;
        }
        for (site, via) in entries.sites.iter() {
            let site = *site;
            if self.covered.is_some() && self.uncovered.is_some() {
                return; // mixed already: nothing can change the class
            }
            if self.path.contains(&site.caller) {
                continue;
            }
            self.visits += 1;
            if self.visits > MAX_VISITS {
                self.unknown.get_or_insert((
                    format!("more than {MAX_VISITS} caller functions"),
                    chain.clone(),
                ));
                return;
            }
            let scopes = ip.call_scopes(site.caller);
            let origin = scopes
                .iter()
                .find(|(off, _)| *off == site.offset)
                .and_then(|(_, o)| o.clone())
                .filter(|o| !self.noio || o.kind == ScopeKind::Noio);
            let caller_name = ip.def_name(site.caller).to_string();
            let file = ip.file_name(site.file).to_string();
            let line = ip.line_of(site.file, site.offset);
            let mut next = vec![ChainStep {
                file: file.clone(),
                line,
                function: caller_name.clone(),
                note: via.clone().unwrap_or_else(|| format!("calls {name}()")),
            }];
            if let Some(o) = origin {
                next.insert(
                    0,
                    ChainStep {
                        file,
                        line: o.line,
                        function: caller_name,
                        note: o.how,
                    },
                );
                next.extend(chain.iter().cloned());
                self.covered.get_or_insert(next);
                continue;
            }
            next.extend(chain.iter().cloned());
            self.path.push(site.caller);
            self.up(site.caller, next, depth + 1);
            self.path.pop();
        }
    }

    /// A kernel entry point ends the chain: each calling context the
    /// model lists is covered (a scope that covers the mask), uncovered
    /// (no scope) or unknown (the allocating task's own scope).
    fn root(&mut self, name: &str, hit: &crate::entry::RootHit, chain: &[ChainStep]) {
        let ip = self.ip;
        for ctx in hit.root.contexts {
            let line = ip
                .index
                .file_id(ctx.file)
                .and_then(|f| {
                    let c = ctx.caller.split('/').next().unwrap_or(ctx.caller);
                    ip.index.def_named_in(f, c)
                })
                .map_or(1, |d| {
                    let dd = &ip.index.defs[d as usize];
                    ip.line_of(dd.file, dd.rec.decl_start)
                });
            let mut steps = vec![
                ChainStep {
                    file: ctx.file.to_string(),
                    line,
                    function: ctx.caller.to_string(),
                    note: format!("kernel entry point: {}", ctx.why),
                },
                ChainStep {
                    file: hit.file.clone(),
                    line: hit.line,
                    function: name.to_string(),
                    note: format!("{name}() is registered as {}", hit.slot),
                },
            ];
            steps.extend(chain.iter().cloned());
            match ctx.scope {
                CallerScope::None => {
                    self.uncovered.get_or_insert(steps);
                }
                CallerScope::In(s) => {
                    let covers = s == Scope::Noio || (s == Scope::Nofs && !self.noio);
                    if covers {
                        self.covered.get_or_insert(steps);
                    } else {
                        self.uncovered.get_or_insert(steps);
                    }
                }
                CallerScope::Inherited => {
                    self.unknown.get_or_insert((
                        format!(
                            "{name}() is registered as {} ({}:{}): {}",
                            hit.slot, hit.file, hit.line, ctx.why
                        ),
                        steps,
                    ));
                }
            }
        }
    }
}
