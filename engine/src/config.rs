//! Where sam keeps things and how it listens: the database file, the compiled-plugin cache,
//! the plugins folder, the key file that encrypts secrets at rest, the OAuth callback URL,
//! the daemon's listen address and the zone times are shown in. Each setting comes from, in
//! order of precedence: a command-line flag, a `SAM_*` environment variable, the TOML config
//! file (`--config-file`/`SAM_CONFIG`, else `$XDG_CONFIG_HOME/sam/config.toml` when it
//! exists), then the XDG default. Relative paths in the file are relative to the file's
//! folder. Unknown keys in the file are an error, so a typo is not silently ignored.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::Deserialize;

/// The callback URL used when none is configured (register it in the vendor's console).
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:8976/callback";
/// The daemon's listen address when none is configured.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8977";

/// The config file's keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The database file.
    pub db: Option<PathBuf>,
    /// The compiled-plugin cache folder.
    pub cache_dir: Option<PathBuf>,
    /// The plugins folder (`*.wasm` spokes).
    pub plugins_dir: Option<PathBuf>,
    /// The key file.
    pub key_file: Option<PathBuf>,
    /// The OAuth callback URL (a loopback URL is served by `sam connect` itself).
    pub redirect_uri: Option<String>,
    /// The daemon's listen address.
    pub listen: Option<String>,
    /// The web console's address as people open it (the reverse proxy's `https://...`);
    /// answer links in notices start with it. Default: the daemon's own address.
    pub console_url: Option<String>,
    /// Removal notices by e-mail (the `[smtp]` table); none when absent.
    pub smtp: Option<SmtpConfig>,
    /// The zone times are shown in: `UTC` (the default), an offset such as `+02:00`, a
    /// zone name such as `Europe/Paris`, or `local` (the machine's zone); `--tz` and
    /// `SAM_TZ` take precedence.
    pub tz: Option<String>,
}

/// How notices are e-mailed (`[smtp]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// The relay's host name.
    pub host: String,
    /// Its port [default: 587 with `starttls`, 465 with `tls`, 25 with `none`].
    pub port: Option<u16>,
    /// `starttls` (default), `tls` (implicit TLS) or `none` (plain, for a relay on this
    /// machine).
    #[serde(default = "default_smtp_tls")]
    pub tls: String,
    /// The sender, e.g. `sam <sam@example.org>`.
    pub from: String,
    /// The user name to log in with, if the relay wants one.
    pub username: Option<String>,
    /// The environment variable holding the password (never the password itself).
    pub password_env: Option<String>,
}

fn default_smtp_tls() -> String {
    "starttls".into()
}

/// Settings given on the command line (already merged with their environment variables by
/// clap where the flag has one).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config-file`.
    pub config_file: Option<PathBuf>,
    /// `--db`.
    pub db: Option<PathBuf>,
    /// `--cache-dir`.
    pub cache_dir: Option<PathBuf>,
    /// `--plugins-dir`.
    pub plugins_dir: Option<PathBuf>,
    /// `--key-file`.
    pub key_file: Option<PathBuf>,
}

/// The resolved settings of one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The config file read, if any.
    pub config_file: Option<PathBuf>,
    /// The database file.
    pub db: PathBuf,
    /// The compiled-plugin cache folder.
    pub cache_dir: PathBuf,
    /// The plugins folder.
    pub plugins_dir: PathBuf,
    /// The key file (unused when `SAM_KEY` holds the key).
    pub key_file: PathBuf,
    /// The OAuth callback URL.
    pub redirect_uri: String,
    /// The daemon's listen address.
    pub listen: String,
    /// The web console's address and the e-mail notices (behind an `Arc`: an `App`
    /// carries its settings, and most commands never look at these).
    pub console: Arc<ConsoleSettings>,
    /// The config file's `tz`, if set (the CLI's `--tz` and `SAM_TZ` take precedence;
    /// parsed by [`crate::model::parse_zone`] where it is applied).
    pub tz: Option<String>,
}

/// Where the web console is opened and how notices are e-mailed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// The console's public address (`console_url`, `SAM_CONSOLE_URL`), if set; the daemon
    /// fills in its own address when not.
    pub url: Option<String>,
    /// E-mail notices (`[smtp]`), if configured.
    pub smtp: Option<SmtpConfig>,
}

/// Why the settings could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid TOML or has unknown keys.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// No home directory to derive defaults from.
    #[error(
        "no home directory to keep sam's files in: set HOME, or give --db, --key-file, --plugins-dir and --cache-dir"
    )]
    NoHome,
}

/// The XDG base folders for sam.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseDirs {
    /// `$XDG_CONFIG_HOME/sam`.
    pub config: PathBuf,
    /// `$XDG_DATA_HOME/sam`.
    pub data: PathBuf,
    /// `$XDG_CACHE_HOME/sam`.
    pub cache: PathBuf,
}

impl BaseDirs {
    /// The platform's folders (XDG on Linux).
    pub fn from_system() -> Option<Self> {
        let dirs = directories::ProjectDirs::from("", "", "sam")?;
        Some(Self {
            config: dirs.config_dir().to_path_buf(),
            data: dirs.data_dir().to_path_buf(),
            cache: dirs.cache_dir().to_path_buf(),
        })
    }
}

impl Settings {
    /// Resolves the settings from the flags, the process environment, the config file and
    /// the platform's folders.
    pub fn load(overrides: &Overrides) -> Result<Self, ConfigError> {
        Self::resolve(
            overrides,
            &|name| std::env::var(name).ok().filter(|v| !v.is_empty()),
            BaseDirs::from_system(),
        )
    }

    /// [`Settings::load`] with the environment and folders given (for tests).
    pub fn resolve(
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
        dirs: Option<BaseDirs>,
    ) -> Result<Self, ConfigError> {
        let explicit_file = overrides
            .config_file
            .clone()
            .or_else(|| env("SAM_CONFIG").map(PathBuf::from));
        let (config_file, file) = match explicit_file {
            Some(path) => {
                let file = read_file(&path)?;
                (Some(path), file)
            }
            None => match dirs.as_ref().map(|d| d.config.join("config.toml")) {
                Some(path) if path.is_file() => {
                    let file = read_file(&path)?;
                    (Some(path), file)
                }
                _ => (None, FileConfig::default()),
            },
        };
        let base = config_file
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let from_file = |p: &Option<PathBuf>| p.as_ref().map(|p| base.join(p));
        let path_setting = |flag: &Option<PathBuf>,
                            var: &str,
                            file_value: &Option<PathBuf>,
                            default: Option<PathBuf>|
         -> Result<PathBuf, ConfigError> {
            flag.clone()
                .or_else(|| env(var).map(PathBuf::from))
                .or_else(|| from_file(file_value))
                .or(default)
                .ok_or(ConfigError::NoHome)
        };
        let db = path_setting(
            &overrides.db,
            "SAM_DB",
            &file.db,
            dirs.as_ref().map(|d| d.data.join("sam.redb")),
        )?;
        let cache_dir = path_setting(
            &overrides.cache_dir,
            "SAM_CACHE_DIR",
            &file.cache_dir,
            dirs.as_ref().map(|d| d.cache.join("compiled")),
        )?;
        let plugins_dir = path_setting(
            &overrides.plugins_dir,
            "SAM_PLUGINS_DIR",
            &file.plugins_dir,
            dirs.as_ref().map(|d| d.data.join("plugins")),
        )?;
        let key_file = path_setting(
            &overrides.key_file,
            "SAM_KEY_FILE",
            &file.key_file,
            dirs.as_ref().map(|d| d.config.join("key")),
        )?;
        let redirect_uri = env("SAM_REDIRECT_URI")
            .or(file.redirect_uri)
            .unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_string());
        let listen = env("SAM_LISTEN")
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let console_url = env("SAM_CONSOLE_URL").or(file.console_url);
        let tz = file.tz;
        Ok(Settings {
            config_file,
            db,
            cache_dir,
            plugins_dir,
            key_file,
            redirect_uri,
            listen,
            console: Arc::new(ConsoleSettings {
                url: console_url,
                smtp: file.smtp,
            }),
            tz,
        })
    }

    /// The settings as `key = value` lines (for `sam config show`-style output).
    pub fn describe(&self) -> String {
        format!(
            "config file:  {}\ndb:           {}\ncache_dir:    {}\nplugins_dir:  {}\nkey_file:     {}\nredirect_uri: {}\nlisten:       {}\ntz:           {}\n",
            self.config_file
                .as_ref()
                .map_or("(none)".to_string(), |p| p.display().to_string()),
            self.db.display(),
            self.cache_dir.display(),
            self.plugins_dir.display(),
            self.key_file.display(),
            self.redirect_uri,
            self.listen,
            self.tz.as_deref().unwrap_or("UTC")
        )
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.message().to_string(),
    })
}

static CURRENT: RwLock<Option<Arc<Settings>>> = RwLock::new(None);

/// Makes `settings` the settings of this invocation (the CLI does this before running a
/// command).
pub fn set_current(settings: Settings) {
    if let Ok(mut slot) = CURRENT.write() {
        *slot = Some(Arc::new(settings));
    }
}

/// The settings of this invocation, or the defaults resolved now when none were set.
pub fn current() -> Result<Arc<Settings>, ConfigError> {
    if let Some(settings) = CURRENT.read().ok().and_then(|s| s.clone()) {
        return Ok(settings);
    }
    Settings::load(&Overrides::default()).map(Arc::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn dirs(root: &Path) -> BaseDirs {
        BaseDirs {
            config: root.join("config/sam"),
            data: root.join("data/sam"),
            cache: root.join("cache/sam"),
        }
    }

    #[test]
    fn defaults_follow_xdg() {
        let root = tempfile::tempdir().unwrap();
        let s =
            Settings::resolve(&Overrides::default(), &|_| None, Some(dirs(root.path()))).unwrap();
        assert_eq!(s.db, root.path().join("data/sam/sam.redb"));
        assert_eq!(s.key_file, root.path().join("config/sam/key"));
        assert_eq!(s.plugins_dir, root.path().join("data/sam/plugins"));
        assert_eq!(s.cache_dir, root.path().join("cache/sam/compiled"));
        assert_eq!(s.redirect_uri, DEFAULT_REDIRECT_URI);
        assert_eq!(s.config_file, None);
    }

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let root = tempfile::tempdir().unwrap();
        let d = dirs(root.path());
        std::fs::create_dir_all(&d.config).unwrap();
        std::fs::write(
            d.config.join("config.toml"),
            "db = \"file.redb\"\nplugins_dir = \"/srv/plugins\"\nkey_file = \"k\"\nredirect_uri = \"http://127.0.0.1:9000/cb\"\ntz = \"Europe/Paris\"\n",
        )
        .unwrap();
        let env: HashMap<&str, &str> = HashMap::from([
            ("SAM_PLUGINS_DIR", "/env/plugins"),
            ("SAM_KEY_FILE", "/env/key"),
        ]);
        let lookup = |k: &str| env.get(k).map(|v| v.to_string());
        let flags = Overrides {
            key_file: Some(PathBuf::from("/flag/key")),
            ..Overrides::default()
        };
        let s = Settings::resolve(&flags, &lookup, Some(d.clone())).unwrap();
        assert_eq!(s.key_file, PathBuf::from("/flag/key"), "flag wins");
        assert_eq!(
            s.plugins_dir,
            PathBuf::from("/env/plugins"),
            "env beats file"
        );
        assert_eq!(
            s.db,
            d.config.join("file.redb"),
            "file (relative to it) beats default"
        );
        assert_eq!(s.redirect_uri, "http://127.0.0.1:9000/cb");
        assert_eq!(s.tz.as_deref(), Some("Europe/Paris"));
        assert_eq!(s.config_file, Some(d.config.join("config.toml")));
    }

    #[test]
    fn an_unknown_key_or_a_missing_explicit_file_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("c.toml");
        std::fs::write(&file, "databse = \"x\"\n").unwrap();
        let flags = Overrides {
            config_file: Some(file),
            ..Overrides::default()
        };
        let err = Settings::resolve(&flags, &|_| None, Some(dirs(root.path()))).unwrap_err();
        assert!(err.to_string().contains("databse"), "{err}");
        let flags = Overrides {
            config_file: Some(root.path().join("missing.toml")),
            ..Overrides::default()
        };
        assert!(matches!(
            Settings::resolve(&flags, &|_| None, Some(dirs(root.path()))),
            Err(ConfigError::Read { .. })
        ));
    }
}
