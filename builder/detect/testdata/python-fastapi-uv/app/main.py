from fastapi import FastAPI

api = FastAPI(title="inventory")


@api.get("/")
def root():
    return {"ok": True}
