# openai_check.py PORT — the official openai client against wafer serve: models,
# completions (batch, n, echo + logprobs), streaming, chat, chat streaming, a 400.
import sys

from openai import OpenAI

c = OpenAI(base_url=f"http://127.0.0.1:{sys.argv[1]}/v1", api_key="none")
print("models:", [m.id for m in c.models.list().data])
r = c.completions.create(model="m", prompt="This License", max_tokens=12, temperature=0)
print("completion:", repr(r.choices[0].text), r.choices[0].finish_reason, r.usage)
r = c.completions.create(model="m", prompt=["the", "a"], max_tokens=4, temperature=0, n=2, logprobs=2, echo=True)
print("batch+echo:", len(r.choices), r.choices[0].logprobs.token_logprobs[:3], r.choices[0].logprobs.top_logprobs[1])
s = "".join(ch.choices[0].text for ch in c.completions.create(model="m", prompt="This License", max_tokens=12, temperature=0, stream=True))
print("stream equals non-stream:", s == c.completions.create(model="m", prompt="This License", max_tokens=12, temperature=0).choices[0].text)
r = c.chat.completions.create(model="m", messages=[{"role": "user", "content": "What is this license?"}], max_tokens=10, temperature=0)
print("chat:", repr(r.choices[0].message.content), r.choices[0].finish_reason)
parts = [ch.choices[0].delta.content or "" for ch in c.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}], max_tokens=8, stream=True, stream_options={"include_usage": True}) if ch.choices]
print("chat stream:", repr("".join(parts)))
try:
    c.completions.create(model="m", prompt="x", temperature=5)
except Exception as e:
    print("error surfaced:", type(e).__name__, str(e)[:120])
