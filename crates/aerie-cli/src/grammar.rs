//! The command grammar, declared once as a tree per mode. Parsing, context help, tab
//! completion and error messages all come from it: a new command is one node plus a
//! [`Command`] variant and its handler.

use aerie_domain::{
    net::{HostName, McmAddress},
    passphrase::Passphrase,
    user::Username,
};

/// Where the operator is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Basic,
    Cm,
}

/// What a command line does once parsed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Command {
    EnterCm,
    ShowVersion,
    ShowHostname,
    SetHostname,
    ShowFips,
    SetFips,
    ShowUsers,
    SetUserPassword,
    SetMcm,
    ResyncMcm,
    RemoveMcm,
    ShowMcm,
    ShowIncidents,
    ShowSystem,
    SetSystem,
    Rollback,
    SystemBackup,
    ShowSyslog,
    SetSyslog,
    RemoveSyslog,
    Help,
    History,
    Exit,
}

/// A value the operator types, and how it is checked.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Value {
    HostName,
    McmAddress,
    Passphrase,
    UserName,
    Count,
    /// Any text the daemon checks (a time zone, a number, a banner).
    Text,
}

/// A value the operator typed, checked into its domain type.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    HostName(HostName),
    McmAddress(McmAddress),
    Passphrase(Passphrase),
    UserName(Username),
    Count(u32),
    Text(String),
}

impl Value {
    /// Checks `raw` into its type; the error says what was wrong and the expected form.
    pub fn check(self, raw: &str) -> Result<Arg, String> {
        match self {
            Value::HostName => HostName::parse("hostname", raw)
                .map(Arg::HostName)
                .map_err(|e| e.message),
            Value::McmAddress => McmAddress::parse(raw)
                .map(Arg::McmAddress)
                .map_err(|e| e.message),
            Value::Passphrase => Passphrase::parse("passphrase", raw)
                .map(Arg::Passphrase)
                .map_err(|e| e.message),
            Value::UserName => Username::parse(raw).map(Arg::UserName).map_err(|e| {
                format!(
                    "{raw:?} is not a user name: {}",
                    e.message.replace("must be", "use")
                )
            }),
            Value::Count => match raw.parse::<u32>() {
                Ok(n) if (1..=500).contains(&n) => Ok(Arg::Count(n)),
                _ => Err(format!(
                    "{raw:?} is not a count: expected a number from 1 to 500"
                )),
            },
            Value::Text => Ok(Arg::Text(raw.to_owned())),
        }
    }
}

/// One word of a command: a keyword, or a value in a named slot.
#[derive(Clone, Copy, Debug)]
pub enum Word {
    Key(&'static str),
    Arg { name: &'static str, value: Value },
}

/// A node of the grammar tree.
#[derive(Debug)]
pub struct Node {
    pub word: Word,
    pub help: &'static str,
    /// The command this line runs if it ends here.
    pub runs: Option<Command>,
    pub next: &'static [Node],
}

const fn key(
    word: &'static str,
    help: &'static str,
    runs: Option<Command>,
    next: &'static [Node],
) -> Node {
    Node {
        word: Word::Key(word),
        help,
        runs,
        next,
    }
}

const fn arg(
    name: &'static str,
    value: Value,
    help: &'static str,
    runs: Option<Command>,
    next: &'static [Node],
) -> Node {
    Node {
        word: Word::Arg { name, value },
        help,
        runs,
        next,
    }
}

const HELP: Node = key(
    "help",
    "Show the commands of this mode",
    Some(Command::Help),
    &[],
);
const HISTORY: Node = key(
    "history",
    "Show the commands entered in this session",
    Some(Command::History),
    &[],
);

/// Basic mode.
pub static BASIC: &[Node] = &[
    key(
        "cm",
        "Enter the Central Manager configuration mode",
        Some(Command::EnterCm),
        &[],
    ),
    key(
        "show",
        "Show appliance settings",
        None,
        &[
            key(
                "version",
                "Show the software version",
                Some(Command::ShowVersion),
                &[],
            ),
            key(
                "hostname",
                "Show the host name",
                Some(Command::ShowHostname),
                &[],
            ),
            key(
                "fips",
                "Show the FIPS mode and the cryptographic module",
                Some(Command::ShowFips),
                &[],
            ),
            key(
                "users",
                "Show the web UI users",
                Some(Command::ShowUsers),
                &[],
            ),
            key(
                "system",
                "Show the System Settings",
                Some(Command::ShowSystem),
                &[],
            ),
            key(
                "syslog",
                "Show the SIEM feed's syslog servers: state, queue depth, lag",
                Some(Command::ShowSyslog),
                &[],
            ),
        ],
    ),
    key(
        "set",
        "Change appliance settings",
        None,
        &[
            key(
                "hostname",
                "Set the host name",
                None,
                &[arg(
                    "hostname",
                    Value::HostName,
                    "The new host name, e.g. cm-losangeles",
                    Some(Command::SetHostname),
                    &[],
                )],
            ),
            key(
                "fips",
                "Set the FIPS mode",
                None,
                &[
                    key(
                        "enable",
                        "Enable FIPS mode (asks for confirmation)",
                        Some(Command::SetFips),
                        &[key(
                            "confirm",
                            "Confirm without asking",
                            Some(Command::SetFips),
                            &[],
                        )],
                    ),
                    key(
                        "disable",
                        "Disable FIPS mode (asks for confirmation)",
                        Some(Command::SetFips),
                        &[key(
                            "confirm",
                            "Confirm without asking",
                            Some(Command::SetFips),
                            &[],
                        )],
                    ),
                ],
            ),
            key(
                "system",
                "Change the System Settings (the web UI's System Settings page)",
                None,
                SYSTEM,
            ),
            key(
                "syslog",
                "Change the SIEM feed: incidents and the audit log as CEF over syslog",
                None,
                SYSLOG,
            ),
            key(
                "user",
                "Set a web UI user's password",
                None,
                &[arg(
                    "username",
                    Value::UserName,
                    "The user; created with the admin role if absent",
                    None,
                    &[key(
                        "password",
                        "Prompt for the new password",
                        Some(Command::SetUserPassword),
                        &[],
                    )],
                )],
            ),
        ],
    ),
    HELP,
    HISTORY,
    key("exit", "Leave the CLI", Some(Command::Exit), &[]),
];

/// `set syslog …`.
static SYSLOG: &[Node] = &[
    key(
        "server",
        "Add a syslog server or change one",
        None,
        &[arg(
            "server",
            Value::Text,
            "HOST:PORT, e.g. 192.0.2.10:514 ([v6]:PORT for IPv6)",
            None,
            &[key(
                "protocol",
                "How to send",
                None,
                &[
                    key(
                        "tcp",
                        "TCP with RFC 6587 octet counting",
                        Some(Command::SetSyslog),
                        &[],
                    ),
                    key(
                        "tls",
                        "TLS (RFC 5425); the receiver's CA must be trusted, or pin its certificate",
                        Some(Command::SetSyslog),
                        &[key(
                            "pin",
                            "Trust exactly this receiver certificate",
                            None,
                            &[arg(
                                "pin",
                                Value::Text,
                                "Its SHA-256 fingerprint: 64 hex digits, colons allowed",
                                Some(Command::SetSyslog),
                                &[],
                            )],
                        )],
                    ),
                    key(
                        "udp",
                        "UDP, one message per datagram (RFC 5426)",
                        Some(Command::SetSyslog),
                        &[],
                    ),
                ],
            )],
        )],
    ),
    key(
        "remove",
        "Stop sending to a syslog server",
        None,
        &[arg(
            "server",
            Value::Text,
            "HOST:PORT as show syslog lists it",
            Some(Command::RemoveSyslog),
            &[],
        )],
    ),
];

/// `set system …`: one setting and its value each.
static SYSTEM: &[Node] = &[
    key(
        "backup",
        "Write an encrypted backup of this appliance to a file",
        None,
        &[arg(
            "file",
            Value::Text,
            "The new backup file's absolute path, e.g. /var/backups/cm1.aerie-backup",
            None,
            &[key(
                "passphrase",
                "The passphrase that encrypts the backup (needed to restore it)",
                None,
                &[arg(
                    "passphrase",
                    Value::Passphrase,
                    "8-128 characters; quote it if it has spaces",
                    Some(Command::SystemBackup),
                    &[],
                )],
            )],
        )],
    ),
    key(
        "rollback",
        "Go back to the software before the last update (the appliance restarts)",
        Some(Command::Rollback),
        &[],
    ),
    key(
        "timezone",
        "Set the time zone the web UI shows times in",
        None,
        &[arg(
            "value",
            Value::Text,
            "An IANA time zone, e.g. UTC or Europe/Berlin",
            Some(Command::SetSystem),
            &[],
        )],
    ),
    key(
        "session-ttl",
        "Set how long a login session lasts",
        None,
        &[arg(
            "value",
            Value::Text,
            "Minutes from 1 to 43200, or default (the configuration's)",
            Some(Command::SetSystem),
            &[],
        )],
    ),
    key(
        "login-banner",
        "Set the text shown above the login form",
        None,
        &[arg(
            "value",
            Value::Text,
            "The banner in quotes; \"\" removes it",
            Some(Command::SetSystem),
            &[],
        )],
    ),
    key(
        "port",
        "Set the HTTPS port (applies at the next start)",
        None,
        &[arg(
            "value",
            Value::Text,
            "A port from 1 to 65535, or default",
            Some(Command::SetSystem),
            &[],
        )],
    ),
    key(
        "software-updates",
        "Apply signed updates by themselves on the next :00 or :30",
        None,
        &[
            key(
                "enable",
                "Turn automatic updates on",
                Some(Command::SetSystem),
                &[],
            ),
            key(
                "disable",
                "Turn automatic updates off",
                Some(Command::SetSystem),
                &[],
            ),
        ],
    ),
];

/// `cm` mode.
pub static CM: &[Node] = &[
    key(
        "set",
        "Change Central Manager settings",
        None,
        &[key(
            "mcm",
            "Configure the Manager of Central Managers",
            None,
            &[
                key(
                    "ip",
                    "Set the IP address of the Manager of Central Managers",
                    None,
                    &[arg(
                        "ip",
                        Value::McmAddress,
                        "MCM address: IPv4, IPv6 or host name, optional :port; 127.0.0.1 makes this box the MCM",
                        None,
                        &[key(
                            "passphrase",
                            "Set the device key passphrase for MCM",
                            None,
                            &[arg(
                                "passphrase",
                                Value::Passphrase,
                                "The shared passphrase (8-128 characters; quote it if it has spaces)",
                                Some(Command::SetMcm),
                                &[key(
                                    "username",
                                    "Enter a username to use for communication with MCM",
                                    None,
                                    &[arg(
                                        "username",
                                        Value::UserName,
                                        "An admin user of the MCM",
                                        Some(Command::SetMcm),
                                        &[],
                                    )],
                                )],
                            )],
                        )],
                    )],
                ),
                key("resync", "Resync with MCM", Some(Command::ResyncMcm), &[]),
                key(
                    "remove",
                    "Remove entire MCM config",
                    Some(Command::RemoveMcm),
                    &[key(
                        "confirm",
                        "On the MCM: delete every CM's incidents without asking",
                        Some(Command::RemoveMcm),
                        &[],
                    )],
                ),
            ],
        )],
    ),
    key(
        "show",
        "Show Central Manager state",
        None,
        &[
            key(
                "mcm",
                "Show the MCM configuration and sync state",
                Some(Command::ShowMcm),
                &[],
            ),
            key(
                "incidents",
                "Show the most recent incidents",
                Some(Command::ShowIncidents),
                &[arg(
                    "count",
                    Value::Count,
                    "How many (1-500, default 10)",
                    Some(Command::ShowIncidents),
                    &[],
                )],
            ),
        ],
    ),
    HELP,
    HISTORY,
    key(
        "exit",
        "Leave the Central Manager configuration mode",
        Some(Command::Exit),
        &[],
    ),
];

pub fn roots(mode: Mode) -> &'static [Node] {
    match mode {
        Mode::Basic => BASIC,
        Mode::Cm => CM,
    }
}

/// A word of the input line and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub text: String,
    pub start: usize,
}

/// Splits a line into words; double quotes group a value with spaces or other
/// characters, `\"` and `\\` escape inside them.
pub fn tokenize(line: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut text = String::new();
        if c == '"' {
            chars.next();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, e @ ('"' | '\\'))) => text.push(e),
                        Some((_, other)) => {
                            text.push('\\');
                            text.push(other);
                        }
                        None => break,
                    },
                    c => text.push(c),
                }
            }
            if !closed {
                return Err("unterminated quote: close the value with \"".to_owned());
            }
        } else {
            while let Some(&(_, c)) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                text.push(c);
                chars.next();
            }
        }
        tokens.push(Token { text, start });
    }
    Ok(tokens)
}

/// A parsed command and its values.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    pub command: Command,
    /// Every word, keywords included, for handlers that read flags like `confirm`.
    pub words: Vec<String>,
    pub args: Args,
}

/// One value of a line: its slot, the text typed, and the text checked into its type.
#[derive(Clone, Debug, PartialEq)]
pub struct Slot {
    pub name: &'static str,
    pub raw: String,
    pub value: Arg,
}

/// The values of a line, in order.
type Args = Vec<Slot>;

impl Parsed {
    /// The text typed in slot `name`.
    pub fn arg(&self, name: &str) -> Option<&str> {
        self.slot(name).map(|s| s.raw.as_str())
    }

    /// The checked value in slot `name`.
    pub fn value(&self, name: &str) -> Option<&Arg> {
        self.slot(name).map(|s| &s.value)
    }

    fn slot(&self, name: &str) -> Option<&Slot> {
        self.args.iter().find(|s| s.name == name)
    }

    pub fn has_word(&self, word: &str) -> bool {
        self.words.iter().any(|w| w == word)
    }
}

/// One line of context help: what may come next, and what it does.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub word: String,
    pub help: &'static str,
}

/// What a line amounts to.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Empty,
    Run(Parsed),
    /// The line stops short of a command: these may follow.
    Incomplete(Vec<Choice>),
    /// The line is wrong; the text says where and what is expected.
    Error(String),
}

fn display(node: &Node) -> String {
    match node.word {
        Word::Key(k) => k.to_owned(),
        Word::Arg { name, .. } => format!("<{name}>"),
    }
}

/// The choices at a level, with `<cr>` when the line may end here.
pub fn choices(level: &[Node], can_end: bool) -> Vec<Choice> {
    let mut out: Vec<Choice> = level
        .iter()
        .map(|n| Choice {
            word: display(n),
            help: n.help,
        })
        .collect();
    if can_end {
        out.push(Choice {
            word: "<cr>".to_owned(),
            help: "",
        });
    }
    out
}

/// Finds the node `token` selects at `level`: an exact keyword, else the only keyword it
/// abbreviates, else the level's value slot.
fn select<'a>(level: &'a [Node], token: &str) -> Result<(&'a Node, Option<Arg>), String> {
    if let Some(n) = level
        .iter()
        .find(|n| matches!(n.word, Word::Key(k) if k == token))
    {
        return Ok((n, None));
    }
    let prefixed: Vec<&Node> = level
        .iter()
        .filter(|n| matches!(n.word, Word::Key(k) if k.starts_with(token)))
        .collect();
    if prefixed.len() == 1 {
        return Ok((prefixed[0], None));
    }
    let slot = level.iter().find_map(|n| match n.word {
        Word::Arg { value, .. } => Some((n, value)),
        Word::Key(_) => None,
    });
    if let Some((n, value)) = slot {
        return Ok((n, Some(value.check(token)?)));
    }
    let expected: Vec<String> = level.iter().map(display).collect();
    if prefixed.len() > 1 {
        Err(format!(
            "{token:?} is ambiguous — it could be: {}",
            expected.join(", ")
        ))
    } else if expected.is_empty() {
        Err(format!(
            "unexpected {token:?} — the command is complete without it"
        ))
    } else {
        Err(format!(
            "unknown word {token:?} — expected one of: {}",
            expected.join(", ")
        ))
    }
}

/// Walks `tokens` down the tree; returns the last node reached (if any) and the values.
fn walk<'a>(roots: &'a [Node], tokens: &[Token]) -> Result<(Option<&'a Node>, Args), String> {
    let mut level = roots;
    let mut current = None;
    let mut args = Vec::new();
    for token in tokens {
        let (node, value) = select(level, &token.text)?;
        if let (Word::Arg { name, .. }, Some(value)) = (node.word, value) {
            args.push(Slot {
                name,
                raw: token.text.clone(),
                value,
            });
        }
        current = Some(node);
        level = node.next;
    }
    Ok((current, args))
}

/// Parses a line of `mode`.
pub fn parse(mode: Mode, line: &str) -> Outcome {
    let tokens = match tokenize(line) {
        Ok(t) => t,
        Err(e) => return Outcome::Error(e),
    };
    if tokens.is_empty() {
        return Outcome::Empty;
    }
    match walk(roots(mode), &tokens) {
        Err(e) => Outcome::Error(e),
        Ok((Some(node), args)) => match node.runs {
            Some(command) => Outcome::Run(Parsed {
                command,
                words: tokens.into_iter().map(|t| t.text).collect(),
                args,
            }),
            None => Outcome::Incomplete(choices(node.next, false)),
        },
        Ok((None, _)) => Outcome::Empty,
    }
}

/// Context help for a line the operator ended with `?`: what may come next.
pub fn help(mode: Mode, line: &str) -> Outcome {
    let tokens = match tokenize(line) {
        Ok(t) => t,
        Err(e) => return Outcome::Error(e),
    };
    match walk(roots(mode), &tokens) {
        Err(e) => Outcome::Error(e),
        Ok((None, _)) => Outcome::Incomplete(choices(roots(mode), false)),
        Ok((Some(node), _)) => Outcome::Incomplete(choices(node.next, node.runs.is_some())),
    }
}

/// Tab completion: where the word being typed starts, and the keywords it may become.
pub fn complete(mode: Mode, line: &str) -> (usize, Vec<String>) {
    let Ok(tokens) = tokenize(line) else {
        return (line.len(), Vec::new());
    };
    let ends_in_space = line.is_empty() || line.ends_with(char::is_whitespace);
    let (done, partial) = match tokens.split_last() {
        Some((last, rest)) if !ends_in_space => (rest, Some(last)),
        _ => (tokens.as_slice(), None),
    };
    let level = match walk(roots(mode), done) {
        Ok((None, _)) => roots(mode),
        Ok((Some(node), _)) => node.next,
        Err(_) => return (line.len(), Vec::new()),
    };
    let prefix = partial.map_or("", |t| t.text.as_str());
    let words = level
        .iter()
        .filter_map(|n| match n.word {
            Word::Key(k) if k.starts_with(prefix) => Some(format!("{k} ")),
            _ => None,
        })
        .collect();
    (partial.map_or(line.len(), |t| t.start), words)
}

/// The line as history and logs may keep it: passphrases replaced by `******`.
pub fn mask(line: &str) -> String {
    let Ok(tokens) = tokenize(line) else {
        return match line.find("passphrase") {
            Some(i) => format!("{}passphrase ******", &line[..i]),
            None => line.to_owned(),
        };
    };
    let mut out = Vec::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        let secret = i > 0 && tokens[i - 1].text == "passphrase";
        let text = if secret {
            "******".to_owned()
        } else {
            t.text.clone()
        };
        let needs_quotes = !secret
            && (text.is_empty() || text.contains(char::is_whitespace) || text.contains('"'));
        out.push(if needs_quotes { quote(&text) } else { text });
    }
    out.join(" ")
}

/// `text` in double quotes as [`tokenize`] reads them back: only `"` and `\` escaped.
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The help table: each choice and its description, aligned.
pub fn render(choices: &[Choice]) -> String {
    let width = choices
        .iter()
        .map(|c| c.word.len())
        .max()
        .unwrap_or(0)
        .max(8)
        + 2;
    choices
        .iter()
        .map(|c| format!("{:width$}{}", c.word, c.help).trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mode: Mode, line: &str) -> Parsed {
        match parse(mode, line) {
            Outcome::Run(p) => p,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn parses_the_seed_sessions() {
        assert_eq!(run(Mode::Basic, "cm").command, Command::EnterCm);
        let p = run(Mode::Cm, "set mcm ip 127.0.0.1 passphrase password123");
        assert_eq!(
            (p.command, p.arg("ip"), p.arg("passphrase")),
            (Command::SetMcm, Some("127.0.0.1"), Some("password123"))
        );
        let p = run(
            Mode::Cm,
            "set mcm ip 1.2.3.4 passphrase password123 username admin",
        );
        assert_eq!(p.arg("username"), Some("admin"));
        assert_eq!(run(Mode::Cm, "show mcm").command, Command::ShowMcm);
        assert_eq!(
            run(Mode::Cm, "sh inc 5").arg("count"),
            Some("5"),
            "unique abbreviations"
        );
        let quoted = run(
            Mode::Cm,
            r#"set mcm ip [2001:db8::5]:8443 passphrase "pass phrase \"1\"""#,
        );
        assert_eq!(quoted.arg("passphrase"), Some("pass phrase \"1\""));
        assert!(run(Mode::Basic, "set fips enable confirm").has_word("confirm"));
    }

    #[test]
    fn incomplete_lines_list_what_follows() {
        let Outcome::Incomplete(c) = parse(Mode::Cm, "set mcm") else {
            panic!()
        };
        let words: Vec<&str> = c.iter().map(|c| c.word.as_str()).collect();
        assert_eq!(words, ["ip", "resync", "remove"]);
        assert_eq!(
            c[0].help,
            "Set the IP address of the Manager of Central Managers"
        );
        let Outcome::Incomplete(c) = help(Mode::Cm, "set mcm ip 1.2.3.4 passphrase password123")
        else {
            panic!()
        };
        let words: Vec<&str> = c.iter().map(|c| c.word.as_str()).collect();
        assert_eq!(words, ["username", "<cr>"]);
        let Outcome::Incomplete(c) = parse(Mode::Cm, "set mcm ip 127.0.0.1") else {
            panic!()
        };
        assert_eq!(
            render(&c),
            "passphrase  Set the device key passphrase for MCM"
        );
    }

    #[test]
    fn errors_say_what_is_expected() {
        let err = |mode, line| match parse(mode, line) {
            Outcome::Error(e) => e,
            other => panic!("{line}: {other:?}"),
        };
        assert!(err(Mode::Cm, "set mcm ip 1.2.3 passphrase x").contains("10.0.0.5:8443"));
        assert!(err(Mode::Cm, "set mcm ip 1.2.3.4 passphrase short").contains("8 to 128"));
        assert!(
            err(Mode::Cm, "set mcm frobnicate").contains("expected one of: ip, resync, remove")
        );
        assert!(
            err(Mode::Basic, "set mcm").contains("unknown word \"mcm\""),
            "set mcm is a cm-mode command"
        );
        assert!(err(Mode::Basic, "set hostname bad_host").contains("host name"));
        assert!(err(Mode::Cm, "show incidents 9999").contains("1 to 500"));
        assert!(err(Mode::Cm, "show mcm now").contains("complete without it"));
        assert!(err(Mode::Cm, "set mcm ip 1.2.3.4 passphrase \"open").contains("unterminated"));
    }

    #[test]
    fn completes_keywords() {
        assert_eq!(
            complete(Mode::Cm, "set mcm r"),
            (8, vec!["resync ".to_owned(), "remove ".to_owned()])
        );
        assert_eq!(complete(Mode::Cm, "sh"), (0, vec!["show ".to_owned()]));
        assert_eq!(
            complete(Mode::Basic, "set ").1,
            ["hostname ", "fips ", "system ", "syslog ", "user "]
        );
        assert!(
            complete(Mode::Cm, "set mcm ip ").1.is_empty(),
            "values are typed, not completed"
        );
    }

    #[test]
    fn system_backup_takes_a_file_and_a_passphrase() {
        let p = run(
            Mode::Basic,
            "set system backup /var/backups/a.aerie-backup passphrase \"long pass 1\"",
        );
        assert_eq!(p.command, Command::SystemBackup);
        assert_eq!(p.arg("file"), Some("/var/backups/a.aerie-backup"));
        assert_eq!(p.arg("passphrase"), Some("long pass 1"));
        match parse(Mode::Basic, "set system backup /x passphrase short") {
            Outcome::Error(e) => assert!(e.contains("8 to 128"), "{e}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            mask("set system backup /x passphrase \"long pass 1\""),
            "set system backup /x passphrase ******"
        );
    }

    #[test]
    fn masks_passphrases() {
        assert_eq!(
            mask("set mcm ip 1.2.3.4 passphrase S3cretpass username admin"),
            "set mcm ip 1.2.3.4 passphrase ****** username admin"
        );
        assert_eq!(
            mask("set mcm ip 1.2.3.4 passphrase \"a b c d e\""),
            "set mcm ip 1.2.3.4 passphrase ******"
        );
        assert_eq!(
            mask("set mcm ip x passphrase \"unterminated"),
            "set mcm ip x passphrase ******"
        );
    }

    #[test]
    fn a_masked_line_reads_back_as_typed() {
        // Found by the cli_line fuzz target: values were quoted with Rust's escapes
        // (`\0`, `\t`), which the tokenizer does not read back.
        let line = "set hostname \"a\tb\0\\\" c\" passphrase x";
        let masked = mask(line);
        assert_eq!(mask(&masked), masked);
        let words: Vec<String> = tokenize(&masked)
            .unwrap()
            .into_iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(
            words,
            ["set", "hostname", "a\tb\0\" c", "passphrase", "******"]
        );
    }

    proptest::proptest! {
        #[test]
        fn no_line_panics(line in "\\PC{0,80}", mode in proptest::bool::ANY) {
            let mode = if mode { Mode::Cm } else { Mode::Basic };
            let _ = parse(mode, &line);
            let _ = help(mode, &line);
            let _ = complete(mode, &line);
            let _ = mask(&line);
        }

        #[test]
        fn no_grammar_shaped_line_panics(
            words in proptest::collection::vec(
                proptest::sample::select(vec!["set", "mcm", "ip", "passphrase", "username", "show", "\"", "1.2.3.4", "::1", "[::1]:8", "x", "?", "confirm", "enable"]),
                0..8,
            )
        ) {
            let line = words.join(" ");
            for mode in [Mode::Basic, Mode::Cm] {
                let _ = parse(mode, &line);
                let _ = help(mode, &line);
                let _ = complete(mode, &line);
            }
        }
    }
}
