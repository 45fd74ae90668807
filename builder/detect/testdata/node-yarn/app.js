const Koa = require("koa");
module.exports = new Koa();
