//! The one masking point: everything sent to the LLM passes [`Masker::mask`]
//! first, and what comes back passes [`Masker::unmask`]. Names, IPs, ids and
//! tags become tokens such as `DROPLET_1` or `IP_2` (upper case with an
//! underscore: no DNS label, address or UUID looks like that, so a token
//! never collides with a real value). One droplet's id and name share a
//! token; the answer shows the name, a tool call's argument resolves to
//! the id.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::Regex;

#[derive(Debug, Clone)]
struct Entry {
    token: String,
    /// What a tool argument naming the token means.
    id: String,
    /// What the answer shows for it.
    display: String,
}

fn word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Masks and unmasks one diagnosis's traffic with the LLM.
pub struct Masker {
    entries: Vec<Entry>,
    /// Real value → entry.
    by_value: HashMap<String, usize>,
    by_token: HashMap<String, usize>,
    counters: HashMap<&'static str, usize>,
    forward: Option<(AhoCorasick, Vec<usize>)>,
    backward: Option<AhoCorasick>,
    stray: Regex,
}

impl Default for Masker {
    fn default() -> Self {
        Self::new()
    }
}

impl Masker {
    pub fn new() -> Self {
        Self {
            entries: Vec::new(),
            by_value: HashMap::new(),
            by_token: HashMap::new(),
            counters: HashMap::new(),
            forward: None,
            backward: None,
            // Addresses and UUIDs nobody registered (in activity messages,
            // say) are masked too.
            stray: Regex::new(
                r"(?i)\b(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b",
            )
            .expect("a valid pattern"),
        }
    }

    /// Registers a named thing (`kind` like `DROPLET`); its id and name both
    /// mask to one token, which is returned.
    pub fn entity(&mut self, kind: &'static str, id: &str, name: &str) -> String {
        if let Some(&i) = self.by_value.get(id).or_else(|| self.by_value.get(name)) {
            return self.entries[i].token.clone();
        }
        let display = if name.is_empty() { id } else { name };
        let i = self.push(kind, id, display);
        for value in [id, name] {
            if !value.is_empty() {
                self.by_value.insert(value.to_string(), i);
            }
        }
        self.dirty();
        self.entries[i].token.clone()
    }

    /// Registers a value (an IP, a tag, an id) as its own token.
    pub fn value(&mut self, kind: &'static str, value: &str) -> String {
        if value.is_empty() {
            return String::new();
        }
        if let Some(&i) = self.by_value.get(value) {
            return self.entries[i].token.clone();
        }
        let i = self.push(kind, value, value);
        self.by_value.insert(value.to_string(), i);
        self.dirty();
        self.entries[i].token.clone()
    }

    fn push(&mut self, kind: &'static str, id: &str, display: &str) -> usize {
        let n = self.counters.entry(kind).or_default();
        *n += 1;
        let token = format!("{kind}_{n}");
        self.entries.push(Entry {
            token: token.clone(),
            id: id.to_string(),
            display: display.to_string(),
        });
        let i = self.entries.len() - 1;
        self.by_token.insert(token, i);
        i
    }

    fn dirty(&mut self) {
        self.forward = None;
        self.backward = None;
    }

    /// `text` with every registered value, and every address or UUID, as
    /// its token.
    pub fn mask(&mut self, text: &str) -> String {
        if self.forward.is_none() && !self.by_value.is_empty() {
            let (values, index): (Vec<&String>, Vec<usize>) =
                self.by_value.iter().map(|(v, i)| (v, *i)).unzip();
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(values)
                .expect("literal patterns");
            self.forward = Some((ac, index));
        }
        let known = match &self.forward {
            Some((ac, index)) => {
                let mut out = String::with_capacity(text.len());
                ac.replace_all_with(text, &mut out, |m, found, dst| {
                    // A value inside a longer word is not that value: a
                    // droplet named `a` leaves "and" alone.
                    let inside = text[..m.start()].chars().next_back().is_some_and(word)
                        || text[m.end()..].chars().next().is_some_and(word);
                    dst.push_str(if inside {
                        found
                    } else {
                        &self.entries[index[m.pattern().as_usize()]].token
                    });
                    true
                });
                out
            }
            None => text.to_string(),
        };
        let strays: Vec<(usize, usize, String)> = self
            .stray
            .find_iter(&known)
            .map(|m| (m.start(), m.end(), m.as_str().to_string()))
            .collect();
        if strays.is_empty() {
            return known;
        }
        let mut out = String::with_capacity(known.len());
        let mut at = 0;
        for (start, end, value) in strays {
            out.push_str(&known[at..start]);
            let kind = if value.contains('.') { "IP" } else { "ID" };
            out.push_str(&self.value(kind, &value));
            at = end;
        }
        out.push_str(&known[at..]);
        out
    }

    fn backward(&mut self) -> &AhoCorasick {
        if self.backward.is_none() {
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(self.entries.iter().map(|e| e.token.as_str()))
                .expect("literal patterns");
            self.backward = Some(ac);
        }
        self.backward.as_ref().expect("built above")
    }

    /// `text` with every token as the real value it stands for (names for
    /// named things).
    pub fn unmask(&mut self, text: &str) -> String {
        if self.entries.is_empty() {
            return text.to_string();
        }
        let ac = self.backward().clone();
        let mut out = String::with_capacity(text.len());
        ac.replace_all_with(text, &mut out, |m, _, dst| {
            dst.push_str(&self.entries[m.pattern().as_usize()].display);
            true
        });
        out
    }

    /// What a tool argument means: the id behind a token, or the argument
    /// itself when it is no token.
    pub fn resolve(&self, token: &str) -> String {
        self.by_token
            .get(token.trim())
            .map_or_else(|| token.trim().to_string(), |&i| self.entries[i].id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0193b1f2-7c1d-7b3e-9f00-0123456789ab";

    #[test]
    fn a_droplets_name_and_id_share_one_token_and_unmask_to_the_name() {
        let mut m = Masker::new();
        let t = m.entity("DROPLET", ID, "web-1");
        assert_eq!(t, "DROPLET_1");
        let masked = m.mask(&format!("web-1 ({ID}) leaks memory"));
        assert_eq!(masked, "DROPLET_1 (DROPLET_1) leaks memory");
        assert_eq!(m.unmask("DROPLET_1 leaks"), "web-1 leaks");
        assert_eq!(m.resolve("DROPLET_1"), ID);
    }

    #[test]
    fn the_longest_name_wins_so_web_10_is_not_web_1_and_a_zero() {
        let mut m = Masker::new();
        m.entity("DROPLET", "a", "web-1");
        m.entity("DROPLET", "b", "web-10");
        assert_eq!(m.mask("web-10 and web-1"), "DROPLET_2 and DROPLET_1");
        // Tokens unmask longest first too.
        for n in 3..=10 {
            m.entity("DROPLET", &format!("id{n}"), &format!("db-{n}"));
        }
        assert_eq!(m.unmask("DROPLET_10 DROPLET_1"), "db-10 web-1");
    }

    #[test]
    fn unregistered_addresses_and_uuids_are_masked_and_come_back() {
        let mut m = Masker::new();
        let masked = m.mask("reached 10.0.0.7 from job 0193b1f2-7c1d-7b3e-9f00-0123456789ac");
        assert_eq!(masked, "reached IP_1 from job ID_1");
        assert_eq!(
            m.unmask(&masked),
            "reached 10.0.0.7 from job 0193b1f2-7c1d-7b3e-9f00-0123456789ac"
        );
    }

    #[test]
    fn a_tool_argument_that_is_no_token_resolves_to_itself() {
        let m = Masker::new();
        assert_eq!(m.resolve(" cpu_percent "), "cpu_percent");
    }
}
