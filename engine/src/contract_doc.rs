//! The contract reference, generated from the WIT's own doc comments: for a contract version
//! this engine supports, every world, interface, type (record fields, variant and enum cases,
//! flags, aliases) and function with its documentation, as Markdown. The WIT is parsed with
//! `wit-parser` (the Bytecode Alliance's parser, the one the binding generators use), so the
//! reference says exactly what the binding generators see. `sam plugin contract [--version V]`
//! prints it; `docs/contract-<version>.md` is its output, kept equal by a test.

use std::fmt::Write as _;

use wit_parser::{Docs, Resolve, Type, TypeDefKind, TypeId, TypeOwner, WorldItem, WorldKey};

/// Every contract version this engine loads, oldest first, with its WIT.
pub const VERSIONS: &[(&str, &str)] = &[
    ("0.1.0", include_str!("../../wit/0.1.0/spoke.wit")),
    ("0.2.0", include_str!("../../wit/0.2.0/spoke.wit")),
];

/// The reference could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum ContractDocError {
    /// No such contract version.
    #[error("no contract version {asked}: this engine knows {known}")]
    UnknownVersion {
        /// What was asked.
        asked: String,
        /// The versions there are.
        known: String,
    },
    /// The WIT did not parse (a broken build, never a user's input).
    #[error("the WIT of contract {version} does not parse: {detail}")]
    Parse {
        /// The version.
        version: String,
        /// What the parser said.
        detail: String,
    },
}

/// The Markdown reference of contract `version` (the current one when `None`).
pub fn reference(version: Option<&str>) -> Result<String, ContractDocError> {
    let version = version.unwrap_or(crate::contract::CONTRACT_VERSION);
    let Some((_, wit)) = VERSIONS.iter().find(|(v, _)| *v == version) else {
        return Err(ContractDocError::UnknownVersion {
            asked: version.to_string(),
            known: VERSIONS
                .iter()
                .map(|(v, _)| *v)
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let mut resolve = Resolve::default();
    let package = resolve
        .push_str(format!("wit/{version}/spoke.wit"), wit)
        .map_err(|e| ContractDocError::Parse {
            version: version.to_string(),
            detail: format!("{e:#}"),
        })?;
    Ok(Writer { resolve: &resolve }.package(package, version))
}

/// Doc text as paragraphs (the comment's own line breaks kept).
fn paragraphs(docs: &Docs) -> String {
    docs.contents.as_deref().unwrap_or("").trim().to_string()
}

/// Doc text on one line, for a table cell.
fn cell(docs: &Docs) -> String {
    let text = paragraphs(docs);
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

struct Writer<'a> {
    resolve: &'a Resolve,
}

impl Writer<'_> {
    fn package(&self, id: wit_parser::PackageId, version: &str) -> String {
        let package = &self.resolve.packages[id];
        let mut out = String::new();
        let _ = writeln!(out, "# The spoke contract, `{}`\n", package.name);
        let _ = writeln!(
            out,
            "<!-- Generated from wit/{version}/spoke.wit by `sam plugin contract --version \
             {version}`; edit the WIT's doc comments, not this file. -->\n"
        );
        push_block(&mut out, &paragraphs(&package.docs));
        for (name, world) in &package.worlds {
            let world = &self.resolve.worlds[*world];
            let _ = writeln!(out, "## World `{name}`\n");
            push_block(&mut out, &paragraphs(&world.docs));
            for (label, items) in [("Imports", &world.imports), ("Exports", &world.exports)] {
                let names: Vec<String> = items
                    .iter()
                    .map(|(key, item)| self.world_item(key, item))
                    .collect();
                if !names.is_empty() {
                    let _ = writeln!(out, "{label}: {}.\n", names.join(", "));
                }
            }
        }
        for (name, interface) in &package.interfaces {
            self.interface(&mut out, name, *interface);
        }
        out.trim_end().to_string() + "\n"
    }

    fn world_item(&self, key: &WorldKey, item: &WorldItem) -> String {
        let name = match key {
            WorldKey::Name(name) => name.clone(),
            WorldKey::Interface(id) => self.resolve.interfaces[*id]
                .name
                .clone()
                .unwrap_or_default(),
        };
        match item {
            WorldItem::Interface { .. } => format!("interface [`{name}`](#interface-{name})"),
            WorldItem::Function(_) => format!("function `{name}`"),
            WorldItem::Type { .. } => format!("type `{name}`"),
        }
    }

    fn interface(&self, out: &mut String, name: &str, id: wit_parser::InterfaceId) {
        let interface = &self.resolve.interfaces[id];
        let _ = writeln!(out, "## Interface `{name}`\n");
        push_block(out, &paragraphs(&interface.docs));
        let (used, own): (Vec<_>, Vec<_>) = interface
            .types
            .iter()
            .partition(|(_, ty)| self.is_use(**ty, id));
        if !used.is_empty() {
            let names: Vec<String> = used.iter().map(|(n, _)| format!("`{n}`")).collect();
            let _ = writeln!(out, "Uses {}.\n", names.join(", "));
        }
        for (type_name, ty) in own {
            self.type_def(out, type_name, *ty);
        }
        for (func_name, func) in &interface.functions {
            let params: Vec<String> = func
                .params
                .iter()
                .map(|p| format!("{}: {}", p.name, self.ty(&p.ty)))
                .collect();
            let result = func
                .result
                .as_ref()
                .map(|r| format!(" -> {}", self.ty(r)))
                .unwrap_or_default();
            let _ = writeln!(out, "### `{func_name}`\n");
            let _ = writeln!(
                out,
                "```wit\n{func_name}: func({}){result};\n```\n",
                params.join(", ")
            );
            push_block(out, &paragraphs(&func.docs));
        }
    }

    /// Whether `ty`, listed in interface `owner`, is a `use` of another interface's type.
    fn is_use(&self, ty: TypeId, owner: wit_parser::InterfaceId) -> bool {
        match &self.resolve.types[ty].kind {
            TypeDefKind::Type(Type::Id(other)) => {
                self.resolve.types[*other].owner != TypeOwner::Interface(owner)
            }
            _ => false,
        }
    }

    fn type_def(&self, out: &mut String, name: &str, id: TypeId) {
        let def = &self.resolve.types[id];
        let docs = paragraphs(&def.docs);
        match &def.kind {
            TypeDefKind::Record(record) => {
                let _ = writeln!(out, "### record `{name}`\n");
                push_block(out, &docs);
                let _ = writeln!(out, "| field | type | meaning |\n|---|---|---|");
                for field in &record.fields {
                    let _ = writeln!(
                        out,
                        "| `{}` | `{}` | {} |",
                        field.name,
                        self.ty(&field.ty),
                        cell(&field.docs)
                    );
                }
                out.push('\n');
            }
            TypeDefKind::Variant(variant) => {
                let _ = writeln!(out, "### variant `{name}`\n");
                push_block(out, &docs);
                let _ = writeln!(out, "| case | payload | meaning |\n|---|---|---|");
                for case in &variant.cases {
                    let payload = case
                        .ty
                        .as_ref()
                        .map(|t| format!("`{}`", self.ty(t)))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "| `{}` | {payload} | {} |",
                        case.name,
                        cell(&case.docs)
                    );
                }
                out.push('\n');
            }
            TypeDefKind::Enum(enumeration) => {
                let _ = writeln!(out, "### enum `{name}`\n");
                push_block(out, &docs);
                let _ = writeln!(out, "| case | meaning |\n|---|---|");
                for case in &enumeration.cases {
                    let _ = writeln!(out, "| `{}` | {} |", case.name, cell(&case.docs));
                }
                out.push('\n');
            }
            TypeDefKind::Flags(flags) => {
                let _ = writeln!(out, "### flags `{name}`\n");
                push_block(out, &docs);
                let _ = writeln!(out, "| flag | meaning |\n|---|---|");
                for flag in &flags.flags {
                    let _ = writeln!(out, "| `{}` | {} |", flag.name, cell(&flag.docs));
                }
                out.push('\n');
            }
            TypeDefKind::Resource => {
                let _ = writeln!(out, "### resource `{name}`\n");
                push_block(out, &docs);
            }
            other => {
                let _ = writeln!(
                    out,
                    "### type `{name}` = `{}`\n",
                    self.kind(other)
                        .unwrap_or_else(|| other.as_str().to_string())
                );
                push_block(out, &docs);
            }
        }
    }

    /// A type as WIT writes it where it is used.
    fn ty(&self, ty: &Type) -> String {
        match ty {
            Type::Bool => "bool".into(),
            Type::U8 => "u8".into(),
            Type::U16 => "u16".into(),
            Type::U32 => "u32".into(),
            Type::U64 => "u64".into(),
            Type::S8 => "s8".into(),
            Type::S16 => "s16".into(),
            Type::S32 => "s32".into(),
            Type::S64 => "s64".into(),
            Type::F32 => "f32".into(),
            Type::F64 => "f64".into(),
            Type::Char => "char".into(),
            Type::String => "string".into(),
            Type::ErrorContext => "error-context".into(),
            Type::Id(id) => {
                let def = &self.resolve.types[*id];
                match &def.name {
                    Some(name) => name.clone(),
                    None => self
                        .kind(&def.kind)
                        .unwrap_or_else(|| def.kind.as_str().to_string()),
                }
            }
        }
    }

    /// An anonymous type's spelling (`list<T>`, `option<T>`, ...), if it has one.
    fn kind(&self, kind: &TypeDefKind) -> Option<String> {
        let opt = |t: &Option<Type>| t.as_ref().map(|t| self.ty(t));
        Some(match kind {
            TypeDefKind::List(t) => format!("list<{}>", self.ty(t)),
            TypeDefKind::FixedLengthList(t, n) => format!("list<{}, {n}>", self.ty(t)),
            TypeDefKind::Option(t) => format!("option<{}>", self.ty(t)),
            TypeDefKind::Map(k, v) => format!("map<{}, {}>", self.ty(k), self.ty(v)),
            TypeDefKind::Result(r) => match (opt(&r.ok), opt(&r.err)) {
                (None, None) => "result".into(),
                (Some(ok), None) => format!("result<{ok}>"),
                (None, Some(err)) => format!("result<_, {err}>"),
                (Some(ok), Some(err)) => format!("result<{ok}, {err}>"),
            },
            TypeDefKind::Tuple(t) => format!(
                "tuple<{}>",
                t.types
                    .iter()
                    .map(|t| self.ty(t))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            TypeDefKind::Type(t) => self.ty(t),
            TypeDefKind::Handle(wit_parser::Handle::Own(id)) => self.ty(&Type::Id(*id)),
            TypeDefKind::Handle(wit_parser::Handle::Borrow(id)) => {
                format!("borrow<{}>", self.ty(&Type::Id(*id)))
            }
            TypeDefKind::Future(t) => match opt(t) {
                Some(t) => format!("future<{t}>"),
                None => "future".into(),
            },
            TypeDefKind::Stream(t) => match opt(t) {
                Some(t) => format!("stream<{t}>"),
                None => "stream".into(),
            },
            _ => return None,
        })
    }
}

fn push_block(out: &mut String, text: &str) {
    if !text.is_empty() {
        out.push_str(text);
        out.push_str("\n\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every version's reference names each of its exports and carries their documentation.
    #[test]
    fn every_version_documents_its_exports() {
        for (version, wit) in VERSIONS {
            let doc = reference(Some(version)).unwrap();
            assert!(doc.contains(&format!("`sam:spoke@{version}`")), "{version}");
            assert!(doc.contains("### `download-subscriptions`"), "{version}");
            assert!(doc.contains("### record `manifest`"), "{version}");
            // A doc comment of the WIT reaches the reference.
            let line = wit
                .lines()
                .find_map(|l| l.trim().strip_prefix("/// Download who holds a seat"))
                .map(|rest| format!("Download who holds a seat{rest}"));
            if let Some(line) = line {
                assert!(doc.contains(line.trim()), "{version}: {line}");
            }
        }
    }

    #[test]
    fn an_unknown_version_names_the_known_ones() {
        let e = reference(Some("9.9.9")).unwrap_err().to_string();
        assert!(e.contains("0.1.0, 0.2.0"), "{e}");
    }
}
