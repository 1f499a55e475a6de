//! The page's one-click allowlisting: a false alarm's registrable domain is appended to
//! `matcher.allowlist_file`, and the hot reload (which polls that file) applies it to the rules
//! within seconds: the next certificate of that domain is not a finding.
//!
//! The file stays the ops team's: lines are only ever appended, each after a comment saying when,
//! by whom and from which finding, so a wrong click is found and undone by deleting two lines.
//! The entry is checked as the matcher checks every entry of the file; a domain already in it is
//! not added again. Appends are serialised within the process and written with one `write` and
//! an fsync.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct AllowlistFile {
    path: Option<PathBuf>,
    lock: Mutex<()>,
}

/// What an append did.
#[derive(Debug, PartialEq, Eq)]
pub enum Appended {
    Added,
    AlreadyThere,
}

impl AllowlistFile {
    /// `path` is `matcher.allowlist_file` at start (empty: none).
    pub fn new(path: &str) -> AllowlistFile {
        AllowlistFile {
            path: (!path.trim().is_empty()).then(|| PathBuf::from(path)),
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Appends `domain` with a comment naming `why` (who, which finding, when).
    pub fn append(&self, domain: &str, why: &str) -> Result<Appended, String> {
        let Some(path) = &self.path else {
            return Err("matcher.allowlist_file is not set: there is no file to add to".into());
        };
        let domain = domain.trim().to_ascii_lowercase();
        certhound_config::check_allow_entry(&domain).map_err(|e| format!("`{domain}`: {e}"))?;
        let _one = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let present = String::from_utf8_lossy(&text).lines().any(|line| {
            let entry = line.split('#').next().unwrap_or("").trim();
            entry.rsplit(',').next().unwrap_or("").trim() == domain
        });
        if present {
            return Ok(Appended::AlreadyThere);
        }
        // A comment cannot end early: no newline of the caller's survives into it.
        let why: String = why.chars().filter(|c| !c.is_control()).collect();
        let mut add = String::new();
        if !text.is_empty() && !text.ends_with(b"\n") {
            add.push('\n');
        }
        add.push_str(&format!("# {why}\n{domain}\n"));
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open {} to append: {e}", path.display()))?;
        f.write_all(add.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(Appended::Added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_once_after_a_comment_and_keeps_what_was_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("allow.txt");
        std::fs::write(&path, "# ops list\n1,example.org").unwrap();
        let f = AllowlistFile::new(path.to_str().unwrap());
        assert_eq!(
            f.append("Example.COM", "false alarm ab:1 by alice\nx"),
            Ok(Appended::Added)
        );
        assert_eq!(f.append("example.com", "again"), Ok(Appended::AlreadyThere));
        assert_eq!(
            f.append("example.org", "ranked"),
            Ok(Appended::AlreadyThere)
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "# ops list\n1,example.org\n# false alarm ab:1 by alicex\nexample.com\n"
        );
        assert!(f.append("not a domain", "x").is_err());
        assert!(AllowlistFile::new("").append("example.com", "x").is_err());
    }
}
