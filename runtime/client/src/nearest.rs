//! "Did you mean": the valid names nearest to one that was not found.

/// How many choices an error lists.
pub(crate) const CHOICES: usize = 5;

/// Up to `n` of `candidates` nearest to `given`, nearest first.
///
/// Numbers (task ids) are compared by value; names by edit distance, ignoring case, with names
/// that start with or contain `given` first. Ties keep the candidates' order.
pub(crate) fn nearest<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    n: usize,
) -> Vec<String> {
    let mut scored: Vec<(u64, usize, &str)> = match given.parse::<u64>() {
        Ok(g) => candidates
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let score = c.parse::<u64>().map_or(u64::MAX, |v| v.abs_diff(g));
                (score, i, c)
            })
            .collect(),
        Err(_) => {
            let g = given.to_lowercase();
            candidates
                .into_iter()
                .enumerate()
                .map(|(i, c)| {
                    let lc = c.to_lowercase();
                    let bonus = if lc.starts_with(&g) || g.starts_with(&lc) {
                        0
                    } else if lc.contains(&g) {
                        1
                    } else {
                        2
                    };
                    let score = bonus * 1_000 + levenshtein(&g, &lc) as u64;
                    (score, i, c)
                })
                .collect()
        }
    };
    scored.sort();
    scored.dedup_by(|a, b| a.2 == b.2);
    scored
        .into_iter()
        .take(n)
        .map(|(_, _, c)| c.to_string())
        .collect()
}

/// The edit distance between two strings, in characters.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// `"a, b, c"`, with `" (N in all)"` when `total` is larger than the list.
pub(crate) fn list(choices: &[String], total: usize) -> String {
    let mut out = choices
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if total > choices.len() {
        out.push_str(&format!(" ({total} in all)"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_by_edit_distance_and_prefix() {
        let steps = ["start", "square", "sum", "end"];
        assert_eq!(nearest("sqare", steps, 2), ["square", "start"]);
        assert_eq!(nearest("su", steps, 1), ["sum"]);
        assert_eq!(nearest("END", steps, 1), ["end"]);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }

    #[test]
    fn numbers_by_value() {
        let ids = ["1", "2", "3", "40", "41", "100"];
        assert_eq!(nearest("39", ids, 3), ["40", "41", "3"]);
    }

    #[test]
    fn lists_say_how_many_in_all() {
        let c = vec!["a".to_string(), "b".to_string()];
        assert_eq!(list(&c, 2), "`a`, `b`");
        assert_eq!(list(&c, 7), "`a`, `b` (7 in all)");
    }
}
