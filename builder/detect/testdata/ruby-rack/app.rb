require "sinatra/base"
class App < Sinatra::Base
  get("/") { "hello" }
end
