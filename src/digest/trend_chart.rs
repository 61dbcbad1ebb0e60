//! The weekly status's trend chart: a project's compliance rate over the last
//! eight weeks as a small PNG (one bar per week, oldest on the left), drawn
//! into a pixel buffer here and encoded with the `png` crate. No text in the
//! image (no fonts needed): the numbers stand beside it in the HTML and in the
//! plain text, for mail programs that block images.
//!
//! Reading it: a bar's height is the week's rate (the full height is 100%),
//! green from 90%, amber from 75%, red below; faint lines mark 50% and 100%;
//! a week with nothing due has no bar, only a grey mark on the baseline.

use super::compliance_rate::Rate;

/// The image's size in pixels.
pub const WIDTH: u32 = 320;
pub const HEIGHT: u32 = 80;

type Rgb = [u8; 3];

const BACKGROUND: Rgb = [0xff, 0xff, 0xff];
const GRID: Rgb = [0xe5, 0xe7, 0xeb];
const BASELINE: Rgb = [0x9c, 0xa3, 0xaf];
const GOOD: Rgb = [0x05, 0x96, 0x69];
const FAIR: Rgb = [0xd9, 0x77, 0x06];
const POOR: Rgb = [0xdc, 0x26, 0x26];

/// Pixels above the 100% line and below the baseline.
const TOP: u32 = 4;
const BOTTOM: u32 = 4;

struct Canvas {
    pixels: Vec<u8>,
}

impl Canvas {
    fn new() -> Canvas {
        Canvas {
            pixels: BACKGROUND
                .iter()
                .copied()
                .cycle()
                .take((WIDTH * HEIGHT * 3) as usize)
                .collect(),
        }
    }

    /// Fills `[x0, x1) × [y0, y1)`, clipped to the image.
    fn fill(&mut self, x0: u32, y0: u32, x1: u32, y1: u32, c: Rgb) {
        for y in y0.min(HEIGHT)..y1.min(HEIGHT) {
            for x in x0.min(WIDTH)..x1.min(WIDTH) {
                let i = ((y * WIDTH + x) * 3) as usize;
                self.pixels[i..i + 3].copy_from_slice(&c);
            }
        }
    }

    fn png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, WIDTH, HEIGHT);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        // Writing into a Vec cannot fail for a buffer of the declared size.
        let mut w = enc.write_header().expect("PNG header into memory");
        w.write_image_data(&self.pixels)
            .expect("PNG data of the declared size");
        w.finish().expect("PNG end into memory");
        out
    }
}

/// The colour of a rate's bar.
fn colour(percent: u32) -> Rgb {
    match percent {
        90.. => GOOD,
        75..=89 => FAIR,
        _ => POOR,
    }
}

/// The chart of `weeks` (oldest first; the last eight are drawn) as PNG bytes.
pub fn render(weeks: &[Rate]) -> Vec<u8> {
    let mut c = Canvas::new();
    let base = HEIGHT - BOTTOM; // the baseline's row
    let full = base - TOP; // the height of 100%
    c.fill(0, TOP, WIDTH, TOP + 1, GRID);
    c.fill(0, base - full / 2, WIDTH, base - full / 2 + 1, GRID);
    c.fill(0, base, WIDTH, base + 1, BASELINE);
    let shown = &weeks[weeks.len().saturating_sub(8)..];
    let slot = WIDTH / 8;
    let first = 8 - shown.len() as u32;
    for (i, r) in shown.iter().enumerate() {
        let x = (first + i as u32) * slot + slot / 6;
        let w = slot - slot / 3;
        match r.percent() {
            Some(p) => {
                // At least 2 px, so 0% still shows as a (red) bar.
                let h = (full * p.min(100) / 100).max(2);
                c.fill(x, base - h, x + w, base, colour(p));
            }
            None => c.fill(x, base - 2, x + w, base, GRID),
        }
    }
    c.png()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a PNG: (width, height, RGB pixels).
    fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let mut r = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn pixel(p: &[u8], x: u32, y: u32) -> Rgb {
        let i = ((y * WIDTH + x) * 3) as usize;
        [p[i], p[i + 1], p[i + 2]]
    }

    #[test]
    fn bars_are_as_high_as_the_rate_and_coloured_by_it() {
        let weeks = [
            Rate { kept: 1, due: 2 },   // 50%: red
            Rate::default(),            // nothing due
            Rate { kept: 4, due: 5 },   // 80%: amber
            Rate { kept: 9, due: 9 },   // 100%: green
            Rate { kept: 0, due: 3 },   // 0%: a red stub
            Rate { kept: 19, due: 20 }, // 95%
            Rate { kept: 3, due: 4 },   // 75%
            Rate { kept: 1, due: 1 },
        ];
        let (w, h, p) = decode(&render(&weeks));
        assert_eq!((w, h), (WIDTH, HEIGHT));
        let base = HEIGHT - BOTTOM;
        let full = base - TOP;
        let mid = |i: u32| i * 40 + 20;
        // The 50% bar reaches half way and no higher.
        assert_eq!(pixel(&p, mid(0), base - 1), POOR);
        assert_eq!(pixel(&p, mid(0), base - full / 2), POOR);
        assert_eq!(pixel(&p, mid(0), base - full / 2 - 2), BACKGROUND);
        // Nothing due: no bar, a grey mark.
        assert_eq!(pixel(&p, mid(1), base - 1), GRID);
        assert_eq!(pixel(&p, mid(1), base - 3), BACKGROUND);
        assert_eq!(pixel(&p, mid(2), base - 1), FAIR);
        // 100% reaches the top line.
        assert_eq!(pixel(&p, mid(3), TOP), GOOD);
        assert_eq!(pixel(&p, mid(4), base - 1), POOR);
        assert_eq!(pixel(&p, mid(4), base - 3), BACKGROUND);
        assert_eq!(pixel(&p, mid(6), base - 1), FAIR);
        // Between bars: background and the grid.
        assert_eq!(pixel(&p, 0, base - 10), BACKGROUND);
        assert_eq!(pixel(&p, 0, base), BASELINE);
    }

    #[test]
    fn fewer_weeks_are_drawn_on_the_right() {
        let (_, _, p) = decode(&render(&[Rate { kept: 1, due: 1 }]));
        let base = HEIGHT - BOTTOM;
        assert_eq!(pixel(&p, 7 * 40 + 20, base - 1), GOOD);
        assert_eq!(pixel(&p, 20, base - 1), BACKGROUND);
    }
}
