//! Sessions: the interactive shell (rustyline) and the one-shot `-c` runner share one
//! line handler.

use std::{
    cell::Cell,
    io::{BufRead, IsTerminal, Write},
    path::Path,
    rc::Rc,
};

use rustyline::{
    Context, Editor, Helper, completion::Completer, error::ReadlineError, highlight::Highlighter,
    hint::Hinter, history::DefaultHistory, validate::Validator,
};

use aerie_proto::admin::{AdminReply, AdminRequest, ApplianceStatus};

use crate::{
    CliError,
    channel::Channel,
    commands,
    grammar::{self, Mode, Outcome},
};

/// What the session does after a line.
#[derive(Debug, PartialEq)]
pub enum Flow {
    Continue,
    Quit,
}

/// Questions a command may put to the operator.
pub trait Ask {
    fn confirm(&mut self, question: &str) -> Result<bool, CliError>;
    fn secret(&mut self, prompt: &str) -> Result<String, CliError>;
}

/// One operator session against one daemon.
pub struct Session {
    pub mode: Mode,
    pub channel: Channel,
    /// Lines entered, passphrases masked.
    pub history: Vec<String>,
    pub status: ApplianceStatus,
}

impl Session {
    pub fn open(data_dir: &Path) -> Result<Session, CliError> {
        let mut channel = Channel::connect(data_dir)?;
        let status = fetch_status(&mut channel)?;
        Ok(Session {
            mode: Mode::Basic,
            channel,
            history: Vec::new(),
            status,
        })
    }

    /// Re-reads the appliance status (host name and role show in the prompt).
    pub fn refresh(&mut self) -> Result<ApplianceStatus, CliError> {
        self.status = fetch_status(&mut self.channel)?;
        Ok(self.status.clone())
    }

    /// `host# `, `host(cm)# `; on the MCM the device type shows: `host:mcm(cm)# `.
    pub fn prompt(&self) -> String {
        let device = if self.status.role == "mcm" {
            ":mcm"
        } else {
            ""
        };
        let mode = if self.mode == Mode::Cm { "(cm)" } else { "" };
        format!("{}{device}{mode}# ", self.status.hostname)
    }

    /// Handles one line: `?` help, incomplete-line help, or a command.
    fn handle(
        &mut self,
        line: &str,
        w: &mut dyn Write,
        ask: &mut dyn Ask,
        strict: bool,
    ) -> Result<Flow, CliError> {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return Ok(Flow::Continue);
        }
        self.history.push(grammar::mask(trimmed));
        if let Some(prefix) = trimmed.strip_suffix('?') {
            return match grammar::help(self.mode, prefix) {
                Outcome::Incomplete(choices) => {
                    print(w, &grammar::render(&choices))?;
                    Ok(Flow::Continue)
                }
                Outcome::Error(e) => Err(CliError::Input(e)),
                _ => Ok(Flow::Continue),
            };
        }
        match grammar::parse(self.mode, trimmed) {
            Outcome::Empty => Ok(Flow::Continue),
            Outcome::Incomplete(choices) => {
                print(w, &grammar::render(&choices))?;
                if strict {
                    Err(CliError::Input(format!(
                        "incomplete command {:?}: it continues with one of the above",
                        grammar::mask(trimmed)
                    )))
                } else {
                    Ok(Flow::Continue)
                }
            }
            Outcome::Error(e) => Err(CliError::Input(e)),
            Outcome::Run(parsed) => commands::execute(self, &parsed, w, ask),
        }
    }
}

fn fetch_status(channel: &mut Channel) -> Result<ApplianceStatus, CliError> {
    match channel.call(&AdminRequest::Status)? {
        AdminReply::Status(status) => Ok(status),
        AdminReply::Error { error } => Err(CliError::Daemon(error)),
        other => Err(CliError::Daemon(format!("unexpected reply: {other:?}"))),
    }
}

fn print(w: &mut dyn Write, text: &str) -> Result<(), CliError> {
    writeln!(w, "{text}").map_err(|e| CliError::Daemon(format!("cannot write output: {e}")))
}

/// `-c` lines: no questions; secrets come from standard input, one line each.
struct Scripted;

impl Ask for Scripted {
    fn confirm(&mut self, _question: &str) -> Result<bool, CliError> {
        Err(CliError::Input(
            "this command asks for confirmation — add the word 'confirm' when running with -c"
                .into(),
        ))
    }

    fn secret(&mut self, prompt: &str) -> Result<String, CliError> {
        read_secret(prompt)
    }
}

fn read_secret(prompt: &str) -> Result<String, CliError> {
    if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt)
            .map_err(|e| CliError::Input(format!("cannot read the password: {e}")))
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| {
            CliError::Input(format!("cannot read the password from standard input: {e}"))
        })?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// Runs `lines` in order as one session; stops at the first error.
pub fn run_lines(data_dir: &Path, lines: &[String], w: &mut dyn Write) -> Result<(), CliError> {
    let mut session = Session::open(data_dir)?;
    for line in lines {
        if session.handle(line, w, &mut Scripted, true)? == Flow::Quit {
            break;
        }
    }
    Ok(())
}

/// Interactive questions on the terminal.
struct Terminal;

impl Ask for Terminal {
    fn confirm(&mut self, question: &str) -> Result<bool, CliError> {
        print!("{question}");
        std::io::stdout().flush().ok();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| CliError::Input(e.to_string()))?;
        Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
    }

    fn secret(&mut self, prompt: &str) -> Result<String, CliError> {
        let first = read_secret(prompt)?;
        if std::io::stdin().is_terminal() && read_secret("Again: ")? != first {
            return Err(CliError::Input(
                "the two passwords differ; nothing was changed".into(),
            ));
        }
        Ok(first)
    }
}

/// Tab completion from the grammar of the current mode.
struct Completion {
    mode: Rc<Cell<Mode>>,
}

impl Completer for Completion {
    type Candidate = String;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(grammar::complete(self.mode.get(), &line[..pos]))
    }
}

impl Hinter for Completion {
    type Hint = String;
}
impl Highlighter for Completion {}
impl Validator for Completion {}
impl Helper for Completion {}

/// The interactive shell.
pub fn run_interactive(data_dir: &Path) -> Result<(), CliError> {
    let mut session = Session::open(data_dir)?;
    let mode = Rc::new(Cell::new(session.mode));
    let config = rustyline::Config::builder().auto_add_history(false).build();
    let mut editor: Editor<Completion, DefaultHistory> = Editor::with_config(config)
        .map_err(|e| CliError::Input(format!("cannot start the line editor: {e}")))?;
    editor.set_helper(Some(Completion { mode: mode.clone() }));
    let mut stdout = std::io::stdout();
    let mut pending: Option<String> = None;
    loop {
        let prompt = session.prompt();
        let read = match pending.take() {
            Some(initial) => editor.readline_with_initial(&prompt, (&initial, "")),
            None => editor.readline(&prompt),
        };
        let line = match read {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(CliError::Input(format!("cannot read the line: {e}"))),
        };
        let trimmed = line.trim();
        if !trimmed.is_empty() {
            let _ = editor.add_history_entry(grammar::mask(trimmed));
        }
        // After `?` help the partial line comes back for the operator to finish.
        if let Some(prefix) = trimmed.strip_suffix('?') {
            let prefix = prefix.trim_end();
            pending = Some(if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix} ")
            });
        }
        match session.handle(&line, &mut stdout, &mut Terminal, false) {
            Ok(Flow::Quit) => break,
            Ok(Flow::Continue) => {}
            Err(e) => println!("error: {e}"),
        }
        mode.set(session.mode);
    }
    Ok(())
}
