// Run by npx (`npx sluice-cp`, `npx sluice-proxy`, as the README does), a program is the
// grandchild of npm: npm exec -> sh -c -> node. Stopping npm (a supervisor's SIGTERM to the
// pid it started, a closed terminal) ends the shell but not node, which ran on, orphaned,
// holding its ports. Under npx the program watches its parent instead: once the wrapper
// that started it is gone, it stops as on SIGTERM (drained, the store closed). Run any
// other way (systemd, a shell, nohup), nothing watches: a parent may well go away there.

const EVERY_MS = 500;

export function stopWithWrapper(): void {
  if (process.env.npm_command !== 'exec') return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    process.kill(process.pid, 'SIGTERM');
  }, EVERY_MS);
  timer.unref();
}
