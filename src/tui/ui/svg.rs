//! A rendered frame as an SVG image, for `screenshots/`: the same buffer the terminal gets,
//! with its colours (the default theme's 16 ANSI colours, as xterm shows them), bold and
//! reversed text — an image of the real app that a README can show, and that changes in a
//! diff only where the panes did.

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use std::fmt::Write;

const CELL_W: f32 = 8.4;
const CELL_H: f32 = 17.0;
const FONT: &str = "DejaVu Sans Mono, Menlo, Consolas, monospace";
const FG: &str = "#d0d0d0";
const BG: &str = "#1c1c1c";

/// xterm's 16 colours.
fn rgb(c: Color, default: &'static str) -> String {
    let named = match c {
        Color::Reset => default,
        Color::Black => "#000000",
        Color::Red => "#cd0000",
        Color::Green => "#00cd00",
        Color::Yellow => "#cdcd00",
        Color::Blue => "#3b78ff",
        Color::Magenta => "#cd00cd",
        Color::Cyan => "#00cdcd",
        Color::Gray => "#e5e5e5",
        Color::DarkGray => "#7f7f7f",
        Color::LightRed => "#ff0000",
        Color::LightGreen => "#00ff00",
        Color::LightYellow => "#ffff00",
        Color::LightBlue => "#5c5cff",
        Color::LightMagenta => "#ff00ff",
        Color::LightCyan => "#00ffff",
        Color::White => "#ffffff",
        Color::Rgb(r, g, b) => return format!("#{r:02x}{g:02x}{b:02x}"),
        Color::Indexed(_) => default,
    };
    named.to_string()
}

fn escape(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

/// The style of one cell as the image needs it.
#[derive(PartialEq)]
struct Look {
    fg: String,
    bg: String,
    bold: bool,
}

fn look(cell: &ratatui::buffer::Cell) -> Look {
    let (mut fg, mut bg) = (rgb(cell.fg, FG), rgb(cell.bg, BG));
    if cell.modifier.contains(Modifier::REVERSED) {
        std::mem::swap(&mut fg, &mut bg);
    }
    Look {
        fg,
        bg,
        bold: cell.modifier.contains(Modifier::BOLD),
    }
}

/// The whole buffer as one SVG document: a background rectangle per run of cells with a
/// non-default background, and a text element per run of cells of one style.
pub fn render(buf: &Buffer) -> String {
    let (w, h) = (buf.area.width, buf.area.height);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{:.0}" height="{:.0}" font-family="{FONT}" font-size="14">"#,
        w as f32 * CELL_W + 16.0,
        h as f32 * CELL_H + 16.0
    );
    let _ = write!(
        out,
        r#"<rect width="100%" height="100%" fill="{BG}" rx="6"/>"#
    );
    out.push_str(r#"<g transform="translate(8,8)">"#);
    for y in 0..h {
        let mut x = 0;
        while x < w {
            let first = look(&buf[(x, y)]);
            let start = x;
            while x < w && look(&buf[(x, y)]) == first {
                x += 1;
            }
            let (px, py) = (start as f32 * CELL_W, y as f32 * CELL_H);
            if first.bg != BG {
                let _ = write!(
                    out,
                    r#"<rect x="{px:.1}" y="{py:.1}" width="{:.1}" height="{CELL_H}" fill="{}"/>"#,
                    (x - start) as f32 * CELL_W,
                    first.bg
                );
            }
            // One text element per word, placed at its own column: renderers differ in how
            // they treat spaces, columns must not.
            let mut c = start;
            while c < x {
                if buf[(c, y)].symbol().trim().is_empty() {
                    c += 1;
                    continue;
                }
                let word = c;
                let mut text = String::new();
                while c < x && !buf[(c, y)].symbol().trim().is_empty() {
                    text.push_str(buf[(c, y)].symbol());
                    c += 1;
                }
                let _ = write!(
                    out,
                    r#"<text x="{:.1}" y="{:.1}" fill="{}"{} textLength="{:.1}" lengthAdjust="spacingAndGlyphs">"#,
                    word as f32 * CELL_W,
                    py + CELL_H * 0.78,
                    first.fg,
                    if first.bold {
                        r#" font-weight="bold""#
                    } else {
                        ""
                    },
                    (c - word) as f32 * CELL_W
                );
                escape(&text, &mut out);
                out.push_str("</text>");
            }
        }
    }
    out.push_str("</g></svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::Style;

    #[test]
    fn runs_of_one_style_become_one_text_with_its_colour() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 12, 2));
        buf.set_string(0, 0, "ok <a&b>", Style::default().fg(Color::Green));
        buf.set_string(
            0,
            1,
            "sel",
            Style::default().add_modifier(Modifier::REVERSED),
        );
        let svg = render(&buf);
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains(r##"fill="#00cd00""##), "{svg}");
        assert!(
            svg.contains(">ok</text>") && svg.contains(">&lt;a&amp;b&gt;</text>"),
            "{svg}"
        );
        // Reversed: the default foreground becomes the cell's background.
        assert!(svg.contains(&format!(r#"fill="{FG}"/>"#)), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
