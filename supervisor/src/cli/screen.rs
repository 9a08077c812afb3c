//! The terminal as `monit` borrows it: raw mode (single keys, no echo),
//! the alternate screen (the operator's scrollback is left as it was) and
//! a hidden cursor, all given back by [`Screen`]'s `Drop`, so every way
//! out (a key, the supervisor going away, an error, a panic) leaves the
//! terminal as it was found.

use std::io::{self, Write as _};

use crossterm::cursor::{Hide, MoveTo, Show};
use crossterm::terminal::{self, Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{execute, queue};

/// The borrowed terminal.
pub(super) struct Screen {
    out: io::Stdout,
}

impl Screen {
    /// Takes the terminal over.
    pub(super) fn enter() -> io::Result<Self> {
        terminal::enable_raw_mode()?;
        // From here on, `Drop` restores whatever was done.
        let mut screen = Self { out: io::stdout() };
        execute!(screen.out, EnterAlternateScreen, Hide)?;
        // A panic message printed on the alternate screen would vanish
        // with it: give the terminal back first, then let the hook print.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        Ok(screen)
    }

    /// Draws `text` from the top left, one line per row, cut to the
    /// terminal's width and height, erasing what the last frame left.
    pub(super) fn draw(&mut self, text: &str) -> io::Result<()> {
        let (width, height) = terminal::size()?;
        for (row, line) in text.lines().take(height.into()).enumerate() {
            let line: String = line.chars().take(width.into()).collect();
            queue!(
                self.out,
                MoveTo(0, row as u16),
                crossterm::style::Print(line),
                Clear(ClearType::UntilNewLine)
            )?;
        }
        let drawn = text.lines().count().min(height.into());
        if drawn < usize::from(height) {
            queue!(
                self.out,
                MoveTo(0, drawn as u16),
                Clear(ClearType::FromCursorDown)
            )?;
        }
        self.out.flush()
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

/// Gives the terminal back: cursor shown, main screen, cooked mode. Safe
/// to run twice (the panic hook, then `Drop`).
fn restore() {
    let _ = execute!(io::stdout(), Show, LeaveAlternateScreen);
    let _ = terminal::disable_raw_mode();
}
