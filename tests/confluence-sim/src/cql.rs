//! A small, real parser and evaluator for the subset of CQL (Confluence Query Language)
//! that a seat-management spoke needs: `type` (`=`, `!=`, `in`, `not in`),
//! `lastmodified` / `created` with date literals (`= != > >= < <=`), `contributor` /
//! `creator` (`=`, `!=`, `in`, `not in`, `currentUser()`), `space`, `and` / `or` / `not`,
//! parentheses and `order by lastmodified|created [asc|desc]`. Anything else is a
//! [`CqlError`], which the API turns into Atlassian's 400 body. Execution uses the
//! per-user indexes of the content store when a conjunction pins a contributor or creator.

use thiserror::Error;

use crate::clock::{CqlDate, parse_cql_date};
use crate::data::{ContentStore, ContentType, Directory, Item, NO_USER};

/// Why a CQL string was rejected.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CqlError {
    /// The text does not parse.
    #[error("Could not parse cql : {0}")]
    Syntax(String),
    /// A field this simulator (or the search endpoint) does not support.
    #[error("CQL field '{0}' is not supported on this endpoint")]
    UnsupportedField(String),
    /// A value that is not valid for its field.
    #[error("Invalid value '{value}' for CQL field '{field}'")]
    BadValue {
        /// The field.
        field: String,
        /// The offending value.
        value: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Comma,
    Op(&'static str),
    Word(String),
    Str(String),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, CqlError> {
    let b: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = || CqlError::Syntax(s.to_string());
    while i < b.len() {
        let c = b[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '=' => {
                out.push(Tok::Op("="));
                i += 1;
            }
            '!' if b.get(i + 1) == Some(&'=') => {
                out.push(Tok::Op("!="));
                i += 2;
            }
            '>' | '<' => {
                let eq = b.get(i + 1) == Some(&'=');
                out.push(Tok::Op(match (c, eq) {
                    ('>', true) => ">=",
                    ('>', false) => ">",
                    ('<', true) => "<=",
                    _ => "<",
                }));
                i += if eq { 2 } else { 1 };
            }
            '"' | '\'' => {
                let q = c;
                let mut v = String::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err(err()),
                        Some('\\') => {
                            let n = b.get(i + 1).ok_or_else(err)?;
                            v.push(*n);
                            i += 2;
                        }
                        Some(ch) if *ch == q => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            v.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(v));
            }
            c if c.is_alphanumeric() || "_-:.@/+".contains(c) => {
                let mut v = String::new();
                while let Some(&ch) = b.get(i) {
                    if ch.is_alphanumeric() || "_-:.@/+".contains(ch) {
                        v.push(ch);
                        i += 1;
                    } else {
                        break;
                    }
                }
                out.push(Tok::Word(v));
            }
            _ => return Err(err()),
        }
    }
    Ok(out)
}

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Lit(String),
    Func(String, Vec<String>),
}

#[derive(Clone, Debug, PartialEq)]
enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cmp {
        field: String,
        op: &'static str,
        value: Value,
    },
    In {
        field: String,
        negated: bool,
        values: Vec<Value>,
    },
}

/// Sort key of `order by`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OrderField {
    LastModified,
    Created,
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    src: &'a str,
}

impl Parser<'_> {
    fn err(&self) -> CqlError {
        CqlError::Syntax(self.src.to_string())
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }
    fn expect(&mut self, t: Tok) -> Result<(), CqlError> {
        if self.next() == Some(t) {
            Ok(())
        } else {
            Err(self.err())
        }
    }

    fn or_expr(&mut self) -> Result<Expr, CqlError> {
        let mut parts = vec![self.and_expr()?];
        while self.keyword("or") {
            self.pos += 1;
            parts.push(self.and_expr()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and_expr(&mut self) -> Result<Expr, CqlError> {
        let mut parts = vec![self.unary()?];
        while self.keyword("and") {
            self.pos += 1;
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Expr, CqlError> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.or_expr()?;
            self.expect(Tok::RParen)?;
            return Ok(e);
        }
        let field = match self.next() {
            Some(Tok::Word(w)) => w.to_ascii_lowercase(),
            _ => return Err(self.err()),
        };
        match self.next() {
            Some(Tok::Op(op)) => {
                let value = self.value()?;
                Ok(Expr::Cmp { field, op, value })
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("in") => Ok(Expr::In {
                field,
                negated: false,
                values: self.list()?,
            }),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("not") => {
                if !self.keyword("in") {
                    return Err(self.err());
                }
                self.pos += 1;
                Ok(Expr::In {
                    field,
                    negated: true,
                    values: self.list()?,
                })
            }
            _ => Err(self.err()),
        }
    }

    fn list(&mut self) -> Result<Vec<Value>, CqlError> {
        self.expect(Tok::LParen)?;
        let mut vals = vec![self.value()?];
        loop {
            match self.next() {
                Some(Tok::Comma) => vals.push(self.value()?),
                Some(Tok::RParen) => return Ok(vals),
                _ => return Err(self.err()),
            }
        }
    }

    fn value(&mut self) -> Result<Value, CqlError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Value::Lit(s)),
            Some(Tok::Word(w)) => {
                if ["and", "or", "not", "in", "order"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k))
                {
                    return Err(self.err());
                }
                if self.peek() == Some(&Tok::LParen) {
                    self.pos += 1;
                    let mut args = Vec::new();
                    if self.peek() == Some(&Tok::RParen) {
                        self.pos += 1;
                        return Ok(Value::Func(w, args));
                    }
                    loop {
                        match self.next() {
                            Some(Tok::Str(s) | Tok::Word(s)) => args.push(s),
                            _ => return Err(self.err()),
                        }
                        match self.next() {
                            Some(Tok::Comma) => {}
                            Some(Tok::RParen) => return Ok(Value::Func(w, args)),
                            _ => return Err(self.err()),
                        }
                    }
                }
                Ok(Value::Lit(w))
            }
            _ => Err(self.err()),
        }
    }

    fn order_by(&mut self) -> Result<Vec<(OrderField, bool)>, CqlError> {
        let mut keys = Vec::new();
        loop {
            let field = match self.next() {
                Some(Tok::Word(w)) => w.to_ascii_lowercase(),
                _ => return Err(self.err()),
            };
            let f = match field.as_str() {
                "lastmodified" => OrderField::LastModified,
                "created" => OrderField::Created,
                _ => return Err(CqlError::UnsupportedField(field)),
            };
            let mut desc = false;
            if self.keyword("desc") {
                desc = true;
                self.pos += 1;
            } else if self.keyword("asc") {
                self.pos += 1;
            }
            keys.push((f, desc));
            if self.peek() == Some(&Tok::Comma) {
                self.pos += 1;
            } else {
                return Ok(keys);
            }
        }
    }
}

/// A parsed query: an optional filter (none = everything) and sort keys.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    filter: Option<Expr>,
    order: Vec<(OrderField, bool)>,
}

/// Parses a CQL string.
pub fn parse(src: &str) -> Result<Query, CqlError> {
    let toks = tokenize(src)?;
    let mut p = Parser { toks, pos: 0, src };
    let filter = if p.peek().is_none() || p.keyword("order") {
        None
    } else {
        Some(p.or_expr()?)
    };
    let mut order = Vec::new();
    if p.keyword("order") {
        p.pos += 1;
        if !p.keyword("by") {
            return Err(p.err());
        }
        p.pos += 1;
        order = p.order_by()?;
    }
    if p.peek().is_some() {
        return Err(p.err());
    }
    if filter.is_none() && order.is_empty() {
        return Err(p.err());
    }
    Ok(Query { filter, order })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UserField {
    Contributor,
    Creator,
}

#[derive(Clone, Debug)]
enum Pred {
    True,
    And(Vec<Pred>),
    Or(Vec<Pred>),
    Not(Box<Pred>),
    Type(u8),
    Date {
        created: bool,
        op: &'static str,
        date: CqlDate,
    },
    User {
        field: UserField,
        users: Vec<u32>,
    },
    Space(Vec<u16>),
}

/// A query bound to the site's data, ready to run.
#[derive(Clone, Debug)]
pub(crate) struct Compiled {
    pred: Pred,
    order: Vec<(OrderField, bool)>,
}

fn type_bit(s: &str) -> Option<u8> {
    Some(match s.to_ascii_lowercase().as_str() {
        "page" => 1,
        "blogpost" => 2,
        "comment" => 4,
        "attachment" => 8,
        // Valid CQL types that the simulated site has no items of.
        "whiteboard" | "database" | "embed" | "folder" | "space" | "user" => 0,
        _ => return None,
    })
}

fn kind_bit(k: ContentType) -> u8 {
    match k {
        ContentType::Page => 1,
        ContentType::BlogPost => 2,
        ContentType::Comment => 4,
        ContentType::Attachment => 8,
    }
}

impl Query {
    /// Binds account ids, spaces and `currentUser()` to the data.
    pub(crate) fn compile(
        &self,
        dir: &Directory,
        content: &ContentStore,
        current_user: u32,
    ) -> Result<Compiled, CqlError> {
        let pred = match &self.filter {
            None => Pred::True,
            Some(e) => compile_expr(e, dir, content, current_user)?,
        };
        Ok(Compiled {
            pred,
            order: self.order.clone(),
        })
    }
}

fn compile_expr(
    e: &Expr,
    dir: &Directory,
    content: &ContentStore,
    me: u32,
) -> Result<Pred, CqlError> {
    Ok(match e {
        Expr::And(v) => Pred::And(
            v.iter()
                .map(|e| compile_expr(e, dir, content, me))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Or(v) => Pred::Or(
            v.iter()
                .map(|e| compile_expr(e, dir, content, me))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Not(e) => Pred::Not(Box::new(compile_expr(e, dir, content, me)?)),
        Expr::Cmp { field, op, value } => {
            let leaf = compile_leaf(field, op, std::slice::from_ref(value), dir, content, me)?;
            if *op == "!=" && !matches!(leaf, Pred::Date { .. }) {
                Pred::Not(Box::new(leaf))
            } else {
                leaf
            }
        }
        Expr::In {
            field,
            negated,
            values,
        } => {
            if field == "lastmodified" || field == "created" {
                return Err(CqlError::Syntax(format!("{field} in (...)")));
            }
            let leaf = compile_leaf(field, "=", values, dir, content, me)?;
            if *negated {
                Pred::Not(Box::new(leaf))
            } else {
                leaf
            }
        }
    })
}

fn lit<'a>(field: &str, v: &'a Value, me: u32, dir: &Directory) -> Result<LitVal<'a>, CqlError> {
    match v {
        Value::Lit(s) => Ok(LitVal::Text(s)),
        Value::Func(name, args) if name.eq_ignore_ascii_case("currentUser") && args.is_empty() => {
            let _ = dir;
            Ok(LitVal::User(me))
        }
        Value::Func(name, _) => Err(CqlError::BadValue {
            field: field.to_string(),
            value: format!("{name}()"),
        }),
    }
}

enum LitVal<'a> {
    Text(&'a str),
    User(u32),
}

fn compile_leaf(
    field: &str,
    op: &'static str,
    values: &[Value],
    dir: &Directory,
    content: &ContentStore,
    me: u32,
) -> Result<Pred, CqlError> {
    let bad = |v: &str| CqlError::BadValue {
        field: field.to_string(),
        value: v.to_string(),
    };
    let eq_only = |op: &str| -> Result<(), CqlError> {
        if op == "=" || op == "!=" {
            Ok(())
        } else {
            Err(CqlError::Syntax(format!("{field} {op}")))
        }
    };
    match field {
        "type" => {
            eq_only(op)?;
            let mut mask = 0u8;
            for v in values {
                match lit(field, v, me, dir)? {
                    LitVal::Text(t) => mask |= type_bit(t).ok_or_else(|| bad(t))?,
                    LitVal::User(_) => return Err(bad("currentUser()")),
                }
            }
            Ok(Pred::Type(mask))
        }
        "contributor" | "creator" => {
            eq_only(op)?;
            let mut users = Vec::new();
            for v in values {
                match lit(field, v, me, dir)? {
                    LitVal::Text(t) => {
                        // An unknown account id is valid CQL that matches nothing.
                        if let Some(u) = dir.user_by_account(t) {
                            users.push(u);
                        }
                    }
                    LitVal::User(u) => users.push(u),
                }
            }
            Ok(Pred::User {
                field: if field == "creator" {
                    UserField::Creator
                } else {
                    UserField::Contributor
                },
                users,
            })
        }
        "lastmodified" | "created" => {
            let v = values.first().ok_or_else(|| bad(""))?;
            let text = match lit(field, v, me, dir)? {
                LitVal::Text(t) => t,
                LitVal::User(_) => return Err(bad("currentUser()")),
            };
            let date = parse_cql_date(text).ok_or_else(|| bad(text))?;
            Ok(Pred::Date {
                created: field == "created",
                op,
                date,
            })
        }
        "space" | "space.key" => {
            eq_only(op)?;
            let mut set = Vec::new();
            for v in values {
                if let LitVal::Text(t) = lit(field, v, me, dir)?
                    && let Some(i) = content.spaces.iter().position(|(k, _)| k == t)
                {
                    set.push(i as u16);
                }
            }
            Ok(Pred::Space(set))
        }
        "user" | "user.fullname" | "user.accountid" | "user.userkey" => {
            Err(CqlError::UnsupportedField(field.to_string()))
        }
        _ => Err(CqlError::UnsupportedField(field.to_string())),
    }
}

fn eval(p: &Pred, it: &Item) -> bool {
    match p {
        Pred::True => true,
        Pred::And(v) => v.iter().all(|p| eval(p, it)),
        Pred::Or(v) => v.iter().any(|p| eval(p, it)),
        Pred::Not(p) => !eval(p, it),
        Pred::Type(mask) => mask & kind_bit(it.kind) != 0,
        Pred::Date { created, op, date } => {
            let t = if *created {
                it.created_ms
            } else {
                it.modified_ms
            };
            let (lo, hi) = (date.start_ms, date.start_ms + date.span_ms);
            match *op {
                "=" => t >= lo && t < hi,
                "!=" => !(t >= lo && t < hi),
                ">" => t >= hi,
                ">=" => t >= lo,
                "<" => t < lo,
                _ => t < hi, // "<="
            }
        }
        Pred::User { field, users } => users.iter().any(|&u| match field {
            UserField::Creator => it.creator == u,
            UserField::Contributor => {
                it.creator == u
                    || it.last_editor == u
                    || (it.mid_editor != NO_USER && it.mid_editor == u)
            }
        }),
        Pred::Space(set) => set.contains(&it.space),
    }
}

/// Finds an index that covers every match: a pinned contributor or creator.
fn index_source<'a>(p: &Pred, content: &'a ContentStore) -> Option<Vec<&'a [u32]>> {
    match p {
        Pred::User { field, users } => Some(
            users
                .iter()
                .map(|&u| match field {
                    UserField::Contributor => content.by_contributor.get(u),
                    UserField::Creator => content.by_creator.get(u),
                })
                .collect(),
        ),
        Pred::And(v) => v.iter().find_map(|p| index_source(p, content)),
        _ => None,
    }
}

impl Compiled {
    /// Item indices matching the query, in result order.
    pub(crate) fn run(&self, content: &ContentStore) -> Vec<u32> {
        let mut out: Vec<u32> = match index_source(&self.pred, content) {
            Some(lists) => {
                let mut v: Vec<u32> = lists
                    .into_iter()
                    .flatten()
                    .copied()
                    .filter(|&i| eval(&self.pred, &content.items[i as usize]))
                    .collect();
                // Item indices are in lastmodified-desc order already.
                v.sort_unstable();
                v.dedup();
                v
            }
            None => (0..content.items.len() as u32)
                .filter(|&i| eval(&self.pred, &content.items[i as usize]))
                .collect(),
        };
        // Default and `order by lastmodified desc` are the store order.
        match self.order.first() {
            None | Some((OrderField::LastModified, true)) => {}
            Some((OrderField::LastModified, false)) => out.reverse(),
            Some((OrderField::Created, desc)) => {
                let desc = *desc;
                out.sort_by(|&a, &b| {
                    let (ta, tb) = (
                        content.items[a as usize].created_ms,
                        content.items[b as usize].created_ms,
                    );
                    if desc { tb.cmp(&ta) } else { ta.cmp(&tb) }.then(a.cmp(&b))
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spoke_queries() {
        for q in [
            r#"type in (page,blogpost,comment,attachment) and lastmodified >= "2024-01-01 10:00" order by lastmodified desc"#,
            r#"contributor = "5b10ac8d82e05b22cc7d4ef5" order by lastmodified desc"#,
            r#"creator = '712020:abc' order by created desc"#,
            r#"(type = page OR type = blogpost) AND lastmodified > "2024/01/01""#,
            r#"type=page"#,
            r#"contributor = currentUser() and not type = comment"#,
            r#"type not in (comment) and space in (ENG, "KB")"#,
        ] {
            parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        }
    }

    #[test]
    fn rejects_garbage() {
        for q in [
            "",
            "type in page",
            "type = ",
            "lastmodified >= \"2024-01-01",
            "type = page and",
            "order by",
            "type = page order lastmodified",
            "type == page",
            "(type = page",
            "type = page)",
        ] {
            assert!(parse(q).is_err(), "{q} should fail");
        }
    }
}
