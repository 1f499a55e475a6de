//! The process's exit codes, all in one place: what ECS, systemd and scripts see.

/// How the process ends. Codes follow `sysexits.h` where one fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Done: a replay finished, a shutdown drained, a command succeeded.
    Ok,
    /// A command failed (a lookup, a test notification, the admin listener not ready, a file
    /// that cannot be read) or a role could not start a part that has no code of its own.
    Failure,
    /// The configuration is invalid or incomplete, or the command line is (as clap's usage
    /// errors are).
    Config,
    /// The supervisor's restart budget is spent: exiting so that ECS replaces the task
    /// (EX_SOFTWARE).
    BudgetExhausted,
    /// The store cannot be opened (EX_IOERR).
    Store,
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::Failure => 1,
            Exit::Config => 2,
            Exit::BudgetExhausted => 70,
            Exit::Store => 74,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Exit;

    #[test]
    fn codes_are_distinct_and_documented() {
        let all = [
            Exit::Ok,
            Exit::Failure,
            Exit::Config,
            Exit::BudgetExhausted,
            Exit::Store,
        ];
        let codes: Vec<i32> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 70, 74]);
    }
}
