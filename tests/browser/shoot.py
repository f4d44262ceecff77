"""Screenshot one page in a real Chromium: python tests/browser/shoot.py pages/1_X.py out.png

Options: --width 1600 --height 1000 (a projector-ish viewport), --full (whole page).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import Server, launch_browser, open_page  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("page", help="app.py or pages/N_Title.py")
    ap.add_argument("out", help="PNG path")
    ap.add_argument("--width", type=int, default=1600)
    ap.add_argument("--height", type=int, default=1000)
    ap.add_argument("--full", action="store_true", help="capture the whole scrolling page")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    server = Server()
    try:
        with sync_playwright() as p:
            browser = launch_browser(p)
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            seconds = open_page(page, server, args.page)
            errors = page.locator("[data-testid='stException']").count()
            page.screenshot(path=args.out, full_page=args.full)
            browser.close()
        print(f"{args.page}: rendered in {seconds:.2f} s, {errors} exception(s) -> {args.out}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
