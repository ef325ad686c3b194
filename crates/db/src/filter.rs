//! A `SELECT … WHERE` built filter by filter, numbering the `$n` placeholders as it goes, so
//! list queries with optional filters need no hand-kept counters.

use sqlx::any::AnyArguments;
use sqlx::query::Query;

/// One bound value.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Int(i64),
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

#[derive(Debug, Clone)]
pub struct Filter {
    sql: String,
    args: Vec<Arg>,
}

impl Filter {
    /// `select` up to and including `WHERE`, continued with `tenant_id = $1`.
    pub fn new(select: &str, tenant: &str) -> Self {
        Self {
            sql: format!("{select} tenant_id = $1"),
            args: vec![Arg::Text(tenant.to_owned())],
        }
    }

    /// Appends `clause`, each `?` in it taking the next of `args` (in order).
    pub fn and(&mut self, clause: &str, args: impl IntoIterator<Item = Arg>) -> &mut Self {
        let mut args = args.into_iter();
        for (i, part) in clause.split('?').enumerate() {
            if i > 0 {
                if let Some(arg) = args.next() {
                    self.args.push(arg);
                }
                self.sql.push_str(&format!("${}", self.args.len()));
            }
            self.sql.push_str(part);
        }
        self
    }

    /// Appends `clause` when `value` is set, with it as its one argument.
    pub fn and_opt<T: Into<Arg>>(&mut self, clause: &str, value: Option<T>) -> &mut Self {
        if let Some(v) = value {
            self.and(clause, [v.into()]);
        }
        self
    }

    /// Appends SQL with no argument.
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// `ORDER BY {order} LIMIT n`, and the query with every argument bound.
    pub fn page(&mut self, order: &str, limit: usize) -> Query<'_, sqlx::Any, AnyArguments<'_>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.and(&format!(" ORDER BY {order} LIMIT ?"), [Arg::Int(limit)]);
        let mut q = sqlx::query(&self.sql);
        for arg in &self.args {
            q = match arg {
                Arg::Text(t) => q.bind(t.clone()),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }
}

/// The rows of a multi-row `INSERT … VALUES`: `rows` groups, each opening with the shared
/// parameters `$1..=$shared` (the tenant, say) and then `per_row` of its own, numbered on —
/// `value_rows(1, 2, 2)` is `($1, $2, $3), ($1, $4, $5)`.
pub fn value_rows(shared: usize, rows: usize, per_row: usize) -> String {
    let shared: Vec<String> = (1..=shared).map(|n| format!("${n}")).collect();
    (0..rows)
        .map(|row| {
            let first = shared.len() + row * per_row + 1;
            let own = (first..first + per_row).map(|n| format!("${n}"));
            let all: Vec<String> = shared.iter().cloned().chain(own).collect();
            format!("({})", all.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_rows_share_the_leading_parameters() {
        assert_eq!(value_rows(1, 2, 2), "($1, $2, $3), ($1, $4, $5)");
        assert_eq!(value_rows(0, 1, 3), "($1, $2, $3)");
        assert_eq!(value_rows(2, 0, 3), "");
    }

    #[test]
    fn placeholders_are_numbered_in_order() {
        let mut f = Filter::new("SELECT id FROM t WHERE", "a");
        f.and_opt(" AND status = ?", Some("open"))
            .and_opt::<i64>(" AND x = ?", None)
            .push(" AND flag IS NULL")
            .and(
                " AND (t > ? OR (t = ? AND id > ?))",
                [Arg::Int(5), Arg::Int(5), "k".into()],
            );
        let _ = f.page("t, id", 10);
        assert_eq!(
            f.sql(),
            "SELECT id FROM t WHERE tenant_id = $1 AND status = $2 AND flag IS NULL \
             AND (t > $3 OR (t = $4 AND id > $5)) ORDER BY t, id LIMIT $6"
        );
    }
}
