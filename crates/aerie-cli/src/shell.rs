//! The interactive shell (rustyline) and the one-shot `-c` runner; both hand each line
//! to [`commands::handle`].

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

use crate::{
    CliError, commands,
    grammar::{self, Mode},
    session::{Ask, Flow, Session},
};

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
        if commands::handle(&mut session, line, w, &mut Scripted, true)? == Flow::Quit {
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
        match commands::handle(&mut session, &line, &mut stdout, &mut Terminal, false) {
            Ok(Flow::Quit) => break,
            Ok(Flow::Continue) => {}
            Err(e) => println!("error: {e}"),
        }
        mode.set(session.mode);
    }
    Ok(())
}
