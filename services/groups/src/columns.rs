//! List-valued columns: ids and enum texts between commas, one-line texts one per line.

/// `a,b,c` (empty for none).
pub fn join<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Each item of a [`join`]ed column, read by `parse`.
pub fn split<T, E>(column: &str, parse: impl Fn(&str) -> Result<T, E>) -> Result<Vec<T>, E> {
    column
        .split(',')
        .filter(|s| !s.is_empty())
        .map(parse)
        .collect()
}

/// One-line texts, one per line.
pub fn join_lines(items: &[String]) -> String {
    items.join("\n")
}

pub fn split_lines(column: &str) -> Vec<String> {
    column
        .split('\n')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_come_back_as_written() {
        let ids = ["a", "b"];
        assert_eq!(
            split(&join(ids), |s| Ok::<_, ()>(s.to_owned())),
            Ok(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(
            split(&join(Vec::<String>::new()), |s| Ok::<_, ()>(s.to_owned())),
            Ok(vec![])
        );
        let topics = vec![
            "Coping skills, part 1".to_owned(),
            "Relapse prevention".to_owned(),
        ];
        assert_eq!(split_lines(&join_lines(&topics)), topics);
        assert!(split_lines("").is_empty());
    }
}
