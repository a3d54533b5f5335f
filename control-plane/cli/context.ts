// What every command gets from the outside world, passed in so a test can run a command
// in-process and read what it printed (kumactl's RootContext, without the API client yet).

export type CliContext = {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly clock: () => number;
};
