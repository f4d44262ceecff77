"""``streamlit run`` with the GAN page's warm-up started first: `genlab run --preload`.

``python -m ui.preload run app.py [options]`` starts :func:`ui.gan_controller.warm_up`
(TensorFlow's import, then the mlp preset's compiled train step, in background threads) and
then Streamlit's own command line in this same process, so both are done or under way before
the first page opens. Streamlit puts the app's folder on the path, the folder this package is
imported from, so the pages share these modules and find the work started.
"""

from __future__ import annotations

import sys

from streamlit.web import cli as streamlit_cli

from ui import gan_controller


def main() -> None:
    gan_controller.warm_up()  # never waits: the threads import TensorFlow, then compile
    sys.argv = ["streamlit", *sys.argv[1:]]
    streamlit_cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
