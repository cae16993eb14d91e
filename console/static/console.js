// The console's one script: live countdowns to each response deadline, and tables that refresh themselves.
"use strict";

const serverNow = Date.parse(document.body.dataset.now || "") || Date.now();
const clockSkew = serverNow - Date.now(); // count down on the server's clock, not the desk's

function spell(ms) {
  const total = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(total / 86400), h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60), s = total % 60;
  const pad = (n) => String(n).padStart(2, "0");
  if (d) return `${d}天${h}小时${pad(m)}分`;
  if (h) return `${h}小时${pad(m)}分${pad(s)}秒`;
  return `${m}分${pad(s)}秒`;
}

function tick() {
  const now = Date.now() + clockSkew;
  document.querySelectorAll(".clock[data-due]").forEach((el) => {
    const left = Date.parse(el.dataset.due) - now;
    const text = el.querySelector(".clock-left");
    if (!text) return;
    text.textContent = left >= 0 ? `剩余 ${spell(left)}` : `已超时 ${spell(left)}`;
    el.classList.toggle("overdue", left < 0);
    const row = el.closest("tr");
    if (row && left < 0) row.classList.add("overdue");
  });
}

async function refresh(body) {
  const seen = new Set([...body.querySelectorAll("tr[data-id]")].map((tr) => tr.dataset.id));
  try {
    const reply = await fetch(body.dataset.liveSrc, { credentials: "same-origin", redirect: "manual" });
    if (reply.status !== 200) {
      document.querySelectorAll("[data-live-stamp]").forEach((el) => { el.textContent = "连接中断，请刷新或重新登录"; });
      return;
    }
    const html = await reply.text();
    if (html !== body.dataset.lastHtml) {
      body.innerHTML = html;
      body.dataset.lastHtml = html;
      body.querySelectorAll("tr[data-id]").forEach((tr) => { if (!seen.has(tr.dataset.id)) tr.classList.add("new"); });
      tick();
    }
    const stamp = new Date(Date.now() + clockSkew).toLocaleTimeString("zh-CN", { hour12: false });
    document.querySelectorAll("[data-live-stamp]").forEach((el) => { el.textContent = `${stamp} 已更新`; });
  } catch (error) {
    document.querySelectorAll("[data-live-stamp]").forEach((el) => { el.textContent = "连接中断，稍后自动重试"; });
  }
}

// An alert's page tells when someone else changed the alert (or a worker updated it) since it was drawn.
async function watch(banner) {
  try {
    const reply = await fetch(banner.dataset.watch, { credentials: "same-origin", redirect: "manual" });
    if (reply.status !== 200) return;
    const state = await reply.json();
    if (Date.parse(state.updated_at) !== Date.parse(banner.dataset.updated)) {
      banner.querySelector("[data-what]").textContent = `现为${state.status_label}，${state.posts}条相关信息`;
      banner.hidden = false;
    }
  } catch (error) {
    // the next round tries again
  }
}

document.addEventListener("DOMContentLoaded", () => {
  tick();
  setInterval(tick, 1000);
  document.querySelectorAll("[data-live-src]").forEach((body) => {
    const seconds = Math.max(parseFloat(body.dataset.poll) || 5, 0.5);
    setInterval(() => refresh(body), seconds * 1000);
  });
  document.querySelectorAll("[data-watch]").forEach((banner) => {
    const seconds = Math.max(parseFloat(banner.dataset.poll) || 5, 0.5) * 2;
    setInterval(() => watch(banner), seconds * 1000);
  });
});
