//! toml's parse and type errors in a user's words: the key named, no Rust
//! type names (`expected u64`, `as i128`), and "did you mean" for a misspelt
//! key or table (`[[web-serverr]]`).

use scanbench_detector::params::closest;

/// What a Rust type name in a serde message means to a user.
const TYPE_WORDS: &[(&str, &str)] = &[
    ("u8", "a whole number 0..=255"),
    ("u16", "a whole number 0..=65535"),
    ("u32", "a whole number 0..=4294967295"),
    ("u64", "a whole number 0..=18446744073709551615"),
    ("usize", "a whole number 0 or more"),
    ("i32", "a whole number"),
    ("i64", "a whole number"),
    ("f32", "a number"),
    ("f64", "a number"),
];

/// Rewrites toml's `message` about the text at byte `at` of `source`.
pub fn explain(message: &str, source: &str, at: Option<usize>) -> String {
    let mut msg = message.trim().to_string();
    for int in ["i128", "u128", "i64", "u64"] {
        msg = msg.replace(&format!("` as {int}"), "`");
    }
    for (ty, words) in TYPE_WORDS {
        msg = msg.replace(&format!("expected {ty}"), &format!("expected {words}"));
    }
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        return unknown_key(rest).unwrap_or(msg);
    }
    // A bad value: name its key, which toml's message leaves to the line.
    match at.and_then(|at| key_at(source, at)) {
        Some(key) if !msg.contains(&format!("`{key}`")) => format!("`{key}`: {msg}"),
        _ => msg,
    }
}

/// `web-serverr`, expected one of `name`, ...` -> a message with a suggestion.
fn unknown_key(rest: &str) -> Option<String> {
    let (key, tail) = rest.split_once('`')?;
    let expected: Vec<&str> = tail
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| !s.is_empty())
        .collect();
    let hint = closest(key, expected.iter().copied())
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    let known = expected
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "unknown key or table `{key}`{hint}; expected one of {known}"
    ))
}

/// The key of the `key = value` line holding byte `at`.
fn key_at(source: &str, at: usize) -> Option<String> {
    let start = source
        .get(..at.min(source.len()))?
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = source[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty() && !key.contains(['[', '{', ' '])).then(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_become_words_and_the_key_is_named() {
        let src = "seed = \"x\"\n";
        assert_eq!(
            explain("invalid type: string \"x\", expected u64", src, Some(7)),
            "`seed`: invalid type: string \"x\", expected a whole number 0..=18446744073709551615"
        );
        let src = "seed = 99999999999999999999\n";
        let m = explain(
            "invalid type: integer `99999999999999999999` as i128, expected u64",
            src,
            Some(7),
        );
        assert!(
            !m.contains("i128") && !m.contains("u64") && m.starts_with("`seed`"),
            "{m}"
        );
    }

    #[test]
    fn a_misspelt_table_gets_a_suggestion() {
        let m = explain(
            "unknown field `web-serverr`, expected one of `host`, `web-server`, `poller`",
            "",
            None,
        );
        assert_eq!(
            m,
            "unknown key or table `web-serverr` (did you mean `web-server`?); expected one of `host`, `web-server`, `poller`"
        );
    }
}
