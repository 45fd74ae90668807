import argparse
from aiohttp import web

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, default=8000)
web.run_app(web.Application(), port=parser.parse_args().port)
