//! From policy text to compiled rules, packs expanded in place.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    sync::Arc,
};

use toml::Spanned;

use super::{
    Action, PackUse, PolicyError,
    pack::{self, Pack},
    rule::{Rule, RuleOrigin},
    sources::Sources,
    syntax::{self, HttpFields, RawPolicy, RawRule, Source},
};

pub struct Compiled {
    pub rules: Vec<Rule>,
    pub packs: Vec<PackUse>,
}

/// Compiles `text`, read from `path`; packs are read from beside it and
/// recorded in `sources`.
pub fn compile(text: &str, path: &Path, sources: &mut Sources) -> Result<Compiled, PolicyError> {
    let lines = syntax::line_starts(text);
    let src = Source::new(text, path, &lines);
    let raw: RawPolicy = toml::from_str(text).map_err(|e| src.syntax_error(&e))?;
    let mut compiler = Compiler {
        src,
        file: path.into(),
        sources,
        packs: HashMap::new(),
        names: HashSet::new(),
        out: Compiled {
            rules: Vec::with_capacity(raw.rules.len()),
            packs: Vec::new(),
        },
    };
    for rule in &raw.rules {
        compiler.rule(rule)?;
    }
    Ok(compiler.out)
}

struct Compiler<'a> {
    src: Source<'a>,
    file: Arc<Path>,
    sources: &'a mut Sources,
    /// Each pack is read once per load, however many rules use it.
    packs: HashMap<String, Arc<Pack>>,
    names: HashSet<String>,
    out: Compiled,
}

impl Compiler<'_> {
    fn rule(&mut self, raw: &RawRule) -> Result<(), PolicyError> {
        let name = raw.name.get_ref();
        self.claim_name(name, &raw.name)?;
        if raw.pack.is_some() {
            return self.pack_rule(raw);
        }
        let src = self.src;
        let Some(action) = &raw.action else {
            return Err(src.error(
                raw.name.span(),
                format!("rule {name:?} has neither `action` nor `pack`"),
            ));
        };
        if let Some(side) = raw.read.as_ref().or(raw.write.as_ref()) {
            return Err(src.error(
                side.span(),
                format!("rule {name:?}: `read` and `write` go with `pack`; this rule has `action`"),
            ));
        }
        let Some(hosts) = &raw.hosts else {
            return Err(src.error(raw.name.span(), format!("rule {name:?} needs `hosts`")));
        };
        let action = syntax::action(action, &src)?;
        let reason = self.reason(raw, action, raw.action.as_ref().expect("checked"))?;
        self.out.rules.push(Rule {
            name: name.as_str().into(),
            action,
            reason,
            origin: RuleOrigin {
                file: Arc::clone(&self.file),
                line: src.line_column(raw.name.span().start).0,
                pack: None,
            },
            hosts: syntax::hosts(hosts, &src)?,
            ports: raw
                .ports
                .as_deref()
                .map(|p| syntax::ports(p, &src))
                .transpose()?,
            http: HttpFields::of_rule(raw).compile(&src)?,
        });
        Ok(())
    }

    /// `pack = "gmail"`: one rule per endpoint of the pack whose side has
    /// an action, named `<rule>/read` or `<rule>/write`.
    fn pack_rule(&mut self, raw: &RawRule) -> Result<(), PolicyError> {
        let src = self.src;
        let name = raw.name.get_ref();
        let pack_name = raw.pack.as_ref().expect("a pack rule");
        if let Some(action) = &raw.action {
            return Err(src.error(
                action.span(),
                format!(
                    "rule {name:?}: `pack` and `action` do not go together; give the pack's `read` and `write` actions"
                ),
            ));
        }
        let conditions = raw.hosts.is_some()
            || raw.ports.is_some()
            || raw.methods.is_some()
            || raw.paths.is_some()
            || raw.query.is_some()
            || raw.headers.is_some()
            || raw.body.is_some();
        if conditions {
            return Err(src.error(
                pack_name.span(),
                format!(
                    "rule {name:?}: a pack rule takes only name, pack, read, write and reason; the pack says what it matches"
                ),
            ));
        }
        let action_of = |side: &Option<Spanned<String>>| -> Result<_, PolicyError> {
            side.as_ref()
                .map(|s| {
                    let action = syntax::action(s, &src)?;
                    let reason = self.reason(raw, action, s)?;
                    // The reason is for the approver or the denied agent;
                    // on the allowed side it would only mislead.
                    Ok((action, reason.filter(|_| action != Action::Allow)))
                })
                .transpose()
        };
        let read = action_of(&raw.read)?;
        let write = action_of(&raw.write)?;
        if read.is_none() && write.is_none() {
            return Err(src.error(
                pack_name.span(),
                format!("pack rule {name:?} sets neither `read` nor `write`"),
            ));
        }
        for side in [pack::Side::Read, pack::Side::Write] {
            self.claim_name(&format!("{name}/{}", side.as_str()), &raw.name)?;
        }
        let pack = self.pack(pack_name)?;
        let first = self.out.rules.len();
        for endpoint in &pack.endpoints {
            let Some((action, reason)) = (match endpoint.side {
                pack::Side::Read => &read,
                pack::Side::Write => &write,
            }) else {
                continue;
            };
            self.out.rules.push(Rule {
                name: format!("{name}/{}", endpoint.side.as_str()).into(),
                action: *action,
                reason: reason.clone(),
                origin: RuleOrigin {
                    file: Arc::clone(&pack.file),
                    line: endpoint.line,
                    pack: Some(Arc::clone(&pack.name)),
                },
                hosts: endpoint.hosts.clone(),
                ports: endpoint.ports.clone(),
                http: Some(endpoint.http.clone()),
            });
        }
        let added = self.out.rules.len() - first;
        match self.out.packs.iter_mut().find(|p| p.name == pack.name) {
            Some(used) => used.rules += added,
            None => self.out.packs.push(PackUse {
                name: Arc::clone(&pack.name),
                description: Arc::clone(&pack.description),
                rules: added,
            }),
        }
        Ok(())
    }

    fn pack(&mut self, name: &Spanned<String>) -> Result<Arc<Pack>, PolicyError> {
        if let Some(pack) = self.packs.get(name.get_ref()) {
            return Ok(Arc::clone(pack));
        }
        let src = self.src;
        if !pack::is_valid_name(name.get_ref()) {
            return Err(src.error(
                name.span(),
                format!(
                    "invalid pack name {:?}: lower-case letters, digits, '-' and '_'",
                    name.get_ref()
                ),
            ));
        }
        let dir = match src.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let file = pack::file(dir, name.get_ref());
        let pack = match pack::load(&file, name.get_ref(), self.sources) {
            Ok(Some(pack)) => Arc::new(pack),
            Ok(None) => {
                return Err(src.error(
                    name.span(),
                    format!(
                        "pack {:?} not found: there is no file {}",
                        name.get_ref(),
                        file.display()
                    ),
                ));
            }
            Err(error) => {
                let (line, column) = src.line_column(name.span().start);
                return Err(PolicyError::Pack {
                    path: src.path.to_owned(),
                    line,
                    column,
                    pack: name.get_ref().clone(),
                    source: Box::new(error),
                });
            }
        };
        self.packs.insert(name.get_ref().clone(), Arc::clone(&pack));
        Ok(pack)
    }

    fn claim_name(&mut self, name: &str, at: &Spanned<String>) -> Result<(), PolicyError> {
        let problem = if name.is_empty() {
            "a rule name must not be empty".to_owned()
        } else if name == "default" {
            "the rule name \"default\" is reserved: it names the deny when no rule matches"
                .to_owned()
        } else if !self.names.insert(name.to_owned()) {
            format!("the rule name {name:?} is used twice")
        } else {
            return Ok(());
        };
        Err(self.src.error(at.span(), problem))
    }

    /// The rule's reason; an approve rule must have one, since the
    /// approver sees it.
    fn reason(
        &self,
        raw: &RawRule,
        action: Action,
        at: &Spanned<String>,
    ) -> Result<Option<Arc<str>>, PolicyError> {
        match &raw.reason {
            Some(reason) => Ok(Some(reason.get_ref().as_str().into())),
            None if action == Action::Approve => Err(self.src.error(
                at.span(),
                format!(
                    "approve rule {} needs a reason shown to the approver",
                    raw.name.get_ref()
                ),
            )),
            None => Ok(None),
        }
    }
}
