// What every command gets from the outside world, passed in so a test can run a command
// in-process, feed its stdin, point it at a temporary home and read what it printed
// (kumactl's RootContext).

import type { ApiClient, Connection } from './client.ts';

export type CliContext = {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly clock: () => number;
  /** The environment: SLUICE_SERVER, SLUICE_TOKEN_FILE, SLUICE_CA_FILE are read from it. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The home directory, where ~/.sluice/config lives. */
  readonly home: string;
  /** All of stdin, for `-f -`; called at most once per command. */
  readonly readStdin: () => Promise<string>;
  /**
   * Opens a client to the control plane once the command has resolved where it is
   * (server-config.ts). The command closes it before it returns.
   */
  readonly connect: (connection: Connection) => ApiClient;
  /**
   * For a command that runs until stopped (`get -w`): a signal aborted on SIGINT, after
   * which Ctrl-C ends that command cleanly instead of the process. Called once, by such a
   * command only. Absent: the command runs until the server ends it.
   */
  readonly interrupt?: () => AbortSignal;
};
