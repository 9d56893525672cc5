//! Why a request gets its decision: every rule in order, with the checks
//! it made and the one that failed.

use std::{fmt, sync::Arc};

use super::{
    Action, Decision,
    rule::{Condition, Observer, RuleOrigin},
};

/// A decision and the trace of every rule of the policy.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub decision: Decision,
    /// All rules, in policy order (packs expanded).
    pub rules: Vec<RuleTrace>,
}

/// One rule and how it went.
#[derive(Debug, Clone)]
pub struct RuleTrace {
    pub name: Arc<str>,
    pub action: Action,
    pub origin: RuleOrigin,
    /// The checks made, in order; the last failed unless the rule matched.
    pub checks: Vec<Check>,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The first rule that matches: it decides.
    Decides,
    /// Matches too, but an earlier rule decided.
    Shadowed,
    NoMatch,
}

/// One condition and whether it held, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub condition: Condition,
    pub passed: bool,
    pub detail: String,
}

impl RuleTrace {
    /// The check that stopped the rule from matching.
    #[must_use]
    pub fn failed(&self) -> Option<&Check> {
        self.checks.last().filter(|c| !c.passed)
    }

    /// Failed on its host, so it is about another service.
    fn other_host(&self) -> bool {
        self.failed()
            .is_some_and(|c| c.condition == Condition::Host)
    }
}

impl Observer for Vec<Check> {
    fn check(&mut self, condition: Condition, passed: bool, detail: impl FnOnce() -> String) {
        self.push(Check {
            condition,
            passed,
            detail: detail(),
        });
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if &*self.rule == "default" {
            write!(f, "{} (no rule matched: default)", self.action)?;
        } else {
            write!(f, "{} by rule {:?}", self.action, &*self.rule)?;
        }
        if let Some(reason) = &self.reason {
            write!(f, ": {reason}")?;
        }
        Ok(())
    }
}

/// Several lines: the decision, then each rule. Runs of three or more
/// rules for other hosts are shortened to one line, so that a large
/// policy's explanation shows the rules that matter.
impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "decision: {}", self.decision)?;
        writeln!(f, "rules, in order (the first that matches decides):")?;
        let mut i = 0;
        while i < self.rules.len() {
            let run = self.rules[i..]
                .iter()
                .take_while(|r| r.other_host())
                .count();
            if run >= 3 {
                writeln!(f, "  {}-{}. {run} rules for other hosts", i + 1, i + run)?;
                i += run;
                continue;
            }
            write_rule(f, i + 1, &self.rules[i], &self.decision)?;
            i += 1;
        }
        if self.rules.is_empty() {
            writeln!(f, "  (the policy has no rules)")?;
        }
        Ok(())
    }
}

fn write_rule(
    f: &mut fmt::Formatter<'_>,
    number: usize,
    rule: &RuleTrace,
    decision: &Decision,
) -> fmt::Result {
    writeln!(
        f,
        "  {number}. {} ({}) at {}",
        rule.name, rule.action, rule.origin
    )?;
    for check in &rule.checks {
        let mark = if check.passed { "ok  " } else { "FAIL" };
        writeln!(f, "       {mark} {:<6} {}", check.condition, check.detail)?;
    }
    match rule.outcome {
        Outcome::Decides => writeln!(f, "       => matches: decides"),
        Outcome::Shadowed => writeln!(
            f,
            "       => would match, but rule {:?} decided first",
            &*decision.rule
        ),
        Outcome::NoMatch => Ok(()),
    }
}
