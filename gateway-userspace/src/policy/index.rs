//! Which rules could match a request, so that a request to one endpoint
//! does not try the rules of ten thousand others.
//!
//! Every rule is filed under each of its hosts: exact names in a map by
//! name, `*.domain` in a map by `domain`, addresses and CIDR blocks in a
//! map by block. Under a host, it is filed in a trie by the literal
//! segments its path globs start with (`/repos/*/issues` under `repos`;
//! no paths, or `/**`, at the root). A request looks up its name and each
//! parent domain (or its address truncated to each prefix length some rule
//! uses), walks each trie along its path, and tries the rules of the
//! nodes it passes, merged in rule order: first-match precedence is
//! exactly that of a linear scan.

use std::{collections::HashMap, net::IpAddr};

use ipnet::IpNet;

use super::{path::Segments, pattern::HostPattern, rule::Rule};

#[derive(Debug, Clone, Default)]
pub struct RuleIndex {
    by_name: HashMap<Box<str>, PathTrie>,
    by_parent: HashMap<Box<str>, PathTrie>,
    /// A single address is a /32 or /128 block.
    by_net: HashMap<IpNet, PathTrie>,
    /// The prefix lengths in `by_net`, per family, to truncate to.
    v4_prefixes: Vec<u8>,
    v6_prefixes: Vec<u8>,
}

/// Rules by the literal start of their paths.
#[derive(Debug, Clone, Default)]
struct PathTrie {
    /// Rules whose literal path prefix ends here, in rule order.
    rules: Vec<u32>,
    children: HashMap<Box<str>, PathTrie>,
}

impl RuleIndex {
    #[must_use]
    pub fn build(rules: &[Rule]) -> Self {
        let mut index = Self::default();
        for (i, rule) in rules.iter().enumerate() {
            let i = u32::try_from(i).expect("fewer than 2^32 rules");
            for host in &rule.hosts {
                let trie = index.trie_for(host);
                match rule.http.as_ref().and_then(|h| h.paths.as_deref()) {
                    None => trie.file(std::iter::empty(), i),
                    Some(globs) => {
                        for glob in globs {
                            trie.file(glob.literal_prefix(), i);
                        }
                    }
                }
            }
        }
        index
    }

    fn trie_for(&mut self, host: &HostPattern) -> &mut PathTrie {
        match host {
            HostPattern::Name(name) => self.by_name.entry(name.as_str().into()).or_default(),
            HostPattern::Wildcard(parent) => {
                self.by_parent.entry(parent.as_str().into()).or_default()
            }
            HostPattern::Net(net) => {
                let prefixes = match net {
                    IpNet::V4(_) => &mut self.v4_prefixes,
                    IpNet::V6(_) => &mut self.v6_prefixes,
                };
                if !prefixes.contains(&net.prefix_len()) {
                    prefixes.push(net.prefix_len());
                }
                self.by_net.entry(*net).or_default()
            }
        }
    }

    /// The first rule, in rule order, among those filed under `name` or a
    /// parent domain of it and along `path`, that `accept`s.
    pub fn first_for_name(
        &self,
        name: &str,
        path: Segments<'_>,
        accept: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        let mut lists = Vec::new();
        if let Some(trie) = self.by_name.get(name) {
            trie.along(Some(path), &mut lists);
        }
        let mut rest = name;
        while let Some(dot) = rest.find('.') {
            rest = &rest[dot + 1..];
            if let Some(trie) = self.by_parent.get(rest) {
                trie.along(Some(path), &mut lists);
            }
        }
        first_in_order(&mut lists, accept)
    }

    /// The first rule, in rule order, among those filed under a block
    /// that contains `ip` (canonical: IPv4 for a v4-mapped address) and
    /// along `path`, that `accept`s. Without a path (raw TCP) only rules
    /// without paths are candidates.
    pub fn first_for_ip(
        &self,
        ip: IpAddr,
        path: Option<Segments<'_>>,
        accept: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        let prefixes = match ip {
            IpAddr::V4(_) => &self.v4_prefixes,
            IpAddr::V6(_) => &self.v6_prefixes,
        };
        let mut lists = Vec::new();
        for &len in prefixes {
            let Ok(block) = IpNet::new(ip, len) else {
                continue;
            };
            if let Some(trie) = self.by_net.get(&block.trunc()) {
                trie.along(path, &mut lists);
            }
        }
        first_in_order(&mut lists, accept)
    }
}

impl PathTrie {
    fn file<'s>(&mut self, prefix: impl Iterator<Item = &'s str>, rule: u32) {
        let node = prefix.fold(self, |node, segment| {
            node.children.entry(segment.into()).or_default()
        });
        // Rules are filed in order, so a rule filed here twice (two globs
        // with the same start) would be the last entry.
        if node.rules.last() != Some(&rule) {
            node.rules.push(rule);
        }
    }

    /// Adds the rule lists of the nodes along `path` to `lists`.
    fn along<'t>(&'t self, path: Option<Segments<'_>>, lists: &mut Vec<&'t [u32]>) {
        let mut node = self;
        let mut segments = path.iter().flat_map(Segments::iter);
        loop {
            if !node.rules.is_empty() {
                lists.push(&node.rules);
            }
            match segments.next().and_then(|s| node.children.get(s)) {
                Some(child) => node = child,
                None => return,
            }
        }
    }
}

/// Walks sorted lists as one sorted list without repeats (a rule filed
/// under two hosts or paths that both apply), stopping at the first
/// accepted.
fn first_in_order(lists: &mut [&[u32]], mut accept: impl FnMut(usize) -> bool) -> Option<usize> {
    if let [only] = lists {
        return only.iter().map(|&i| i as usize).find(|&i| accept(i));
    }
    loop {
        let next = lists.iter().filter_map(|l| l.first()).min().copied()?;
        for list in lists.iter_mut() {
            if list.first() == Some(&next) {
                *list = &list[1..];
            }
        }
        if accept(next as usize) {
            return Some(next as usize);
        }
    }
}
