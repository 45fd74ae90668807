import Config
config :hello, HelloWeb.Endpoint, url: [host: "localhost"]
import_config "#{config_env()}.exs"
