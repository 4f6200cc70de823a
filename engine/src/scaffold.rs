//! `sam plugin new`: writes a new spoke project from the templates embedded in the binary
//! (`engine/templates/<lang>/`, one folder per language), so an author starts from a spoke
//! that builds with one command and passes the conformance kit against the Example Seats
//! simulator (`sam plugin check … --against example`). It owns the spoke-name rules, the
//! placeholders (`{{name}}`, `{{crate_name}}`, `{{sdk_path}}`), the copy of the current
//! contract's WIT into the project's `wit/`, and the build command and output file per
//! language. It refuses to write into a non-empty folder and never overwrites a file.

use std::fmt;
use std::path::{Path, PathBuf};

use include_dir::{Dir, DirEntry, include_dir};

/// The template folders, `engine/templates/<lang>/`.
static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// The current contract's WIT, written to the project's `wit/spoke.wit`.
pub const CONTRACT_WIT: &str = include_str!("../../wit/0.2.0/spoke.wit");

/// The SDK a Rust project depends on when `--sdk` is not given: this checkout's `sdk/rust`.
pub fn default_sdk_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("sdk")
        .join("rust")
}

/// The languages a spoke can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust, on the `sam-spoke` SDK (cargo, wasm32-wasip2).
    Rust,
    /// Python, built with componentize-py.
    Python,
    /// JavaScript, built with componentize-js (the engine of `jco componentize`).
    Javascript,
}

impl Lang {
    /// Every language, in the order the docs list them.
    pub const ALL: [Lang; 3] = [Lang::Rust, Lang::Python, Lang::Javascript];

    /// The template folder's name.
    pub fn key(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Javascript => "javascript",
        }
    }

    /// The one command, run in the project folder, that builds the component.
    pub fn build_command(self) -> &'static str {
        match self {
            Lang::Rust => "cargo build --release --target wasm32-wasip2",
            Lang::Python => "componentize-py -d wit -w spoke componentize app -o spoke.wasm",
            Lang::Javascript => {
                "componentize-js app.js --wit wit --world-name spoke --disable random clocks http fetch-event --out spoke.wasm"
            }
        }
    }

    /// The component the build command writes, relative to the project folder.
    pub fn output(self, crate_name: &str) -> PathBuf {
        match self {
            Lang::Rust => Path::new("target")
                .join("wasm32-wasip2")
                .join("release")
                .join(format!("{crate_name}.wasm")),
            Lang::Python | Lang::Javascript => PathBuf::from("spoke.wasm"),
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// What to write.
#[derive(Debug, Clone)]
pub struct NewSpoke {
    /// The spoke id (manifest `id`): lowercase letters, digits and single dashes.
    pub name: String,
    /// The language.
    pub lang: Lang,
    /// The project folder (created; must not exist or be empty).
    pub dir: PathBuf,
    /// The Rust SDK's folder, for a Rust project's path dependency.
    pub sdk_path: PathBuf,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Scaffolded {
    /// The project folder.
    pub dir: PathBuf,
    /// The files written, relative to `dir`.
    pub files: Vec<PathBuf>,
    /// The build command, run in `dir`.
    pub build_command: &'static str,
    /// The component the build writes, relative to `dir`.
    pub output: PathBuf,
}

impl Scaffolded {
    /// The `sam plugin check` line for the built component.
    pub fn check_command(&self) -> String {
        format!(
            "sam plugin check {} --against example",
            self.dir.join(&self.output).display()
        )
    }
}

/// Why a project could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name breaks the spoke-id rules.
    #[error(
        "`{0}` is not a spoke name: use lowercase letters, digits and single dashes, starting with a letter (e.g. demo-vendor)"
    )]
    InvalidName(String),
    /// The folder exists and has something in it.
    #[error("{} exists and is not empty", .0.display())]
    NotEmpty(PathBuf),
    /// This binary carries no template for the language.
    #[error("this sam has no {0} template")]
    NoTemplate(Lang),
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Checks a spoke name: 1..=64 bytes of lowercase ASCII letters, digits and dashes, starting
/// with a letter, no leading, trailing or double dash.
pub fn validate_name(name: &str) -> Result<(), ScaffoldError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ScaffoldError::InvalidName(name.to_string()))
    }
}

/// The name as a Rust crate / Python identifier: dashes become underscores.
pub fn snake_case(name: &str) -> String {
    name.replace('-', "_")
}

/// The languages this binary has a template for.
pub fn available() -> Vec<Lang> {
    Lang::ALL
        .into_iter()
        .filter(|lang| TEMPLATES.get_dir(lang.key()).is_some())
        .collect()
}

fn substitute(text: &str, request: &NewSpoke) -> String {
    // The SDK path goes into TOML strings: forward slashes work on every platform and need
    // no escaping.
    let sdk = request.sdk_path.to_string_lossy().replace('\\', "/");
    text.replace("{{name}}", &request.name)
        .replace("{{crate_name}}", &snake_case(&request.name))
        .replace("{{sdk_path}}", &sdk)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ScaffoldError> {
    let io = |source| ScaffoldError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    // `create_new`: never overwrite what is there.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io)?;
    std::io::Write::write_all(&mut file, bytes).map_err(io)
}

fn collect<'a>(dir: &'a Dir<'a>, files: &mut Vec<&'a include_dir::File<'a>>) {
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(sub) => collect(sub, files),
            DirEntry::File(file) => files.push(file),
        }
    }
}

/// Writes the project: every file of the language's template, placeholders substituted
/// (in paths too), and the current contract's WIT as `wit/spoke.wit`.
pub fn create(request: &NewSpoke) -> Result<Scaffolded, ScaffoldError> {
    validate_name(&request.name)?;
    let template = TEMPLATES
        .get_dir(request.lang.key())
        .ok_or(ScaffoldError::NoTemplate(request.lang))?;
    match std::fs::read_dir(&request.dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(ScaffoldError::NotEmpty(request.dir.clone()));
            }
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(ScaffoldError::Io {
                path: request.dir.clone(),
                source,
            });
        }
    }
    let mut files = Vec::new();
    collect(template, &mut files);
    let mut written = Vec::new();
    for file in files {
        // Template paths are relative to `templates/`; drop the language folder.
        let relative = file
            .path()
            .strip_prefix(request.lang.key())
            .unwrap_or(file.path());
        let relative = PathBuf::from(substitute(&relative.to_string_lossy(), request));
        let contents = match file.contents_utf8() {
            Some(text) => substitute(text, request).into_bytes(),
            None => file.contents().to_vec(),
        };
        write_file(&request.dir.join(&relative), &contents)?;
        written.push(relative);
    }
    let wit = PathBuf::from("wit").join("spoke.wit");
    if !written.contains(&wit) {
        write_file(&request.dir.join(&wit), CONTRACT_WIT.as_bytes())?;
        written.push(wit);
    }
    written.sort();
    Ok(Scaffolded {
        dir: request.dir.clone(),
        files: written,
        build_command: request.lang.build_command(),
        output: request.lang.output(&snake_case(&request.name)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spoke_id_rules() {
        for good in ["demo-vendor", "a", "x9", "acme-seats-2"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Demo",
            "demo_vendor",
            "-demo",
            "demo-",
            "de--mo",
            "9lives",
            "demo vendor",
            "dé",
            "../x",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert!(validate_name(&"a".repeat(65)).is_err());
        assert_eq!(snake_case("demo-vendor"), "demo_vendor");
    }

    #[test]
    fn refuses_a_non_empty_folder_and_substitutes_placeholders() {
        let Some(lang) = available().into_iter().next() else {
            return;
        };
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().join("proj");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("keep.txt"), "mine").expect("write");
        let request = NewSpoke {
            name: "demo-vendor".into(),
            lang,
            dir: dir.clone(),
            sdk_path: PathBuf::from("/sdk/here"),
        };
        assert!(matches!(create(&request), Err(ScaffoldError::NotEmpty(_))));
        assert_eq!(
            std::fs::read_to_string(dir.join("keep.txt")).expect("kept"),
            "mine"
        );

        let request = NewSpoke {
            dir: temp.path().join("fresh"),
            ..request
        };
        let made = create(&request).expect("scaffolded");
        assert!(made.files.contains(&PathBuf::from("wit/spoke.wit")));
        assert_eq!(
            std::fs::read_to_string(made.dir.join("wit/spoke.wit")).expect("wit"),
            CONTRACT_WIT
        );
        for file in &made.files {
            let text = std::fs::read_to_string(made.dir.join(file)).unwrap_or_default();
            assert!(
                !text.contains("{{"),
                "{} keeps a placeholder",
                file.display()
            );
        }
        assert!(made.check_command().contains("--against example"));
    }
}
