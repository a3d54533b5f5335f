// undici's index loads fetch, WebSocket, caches and more (~13 MiB of heap we never use);
// the proxy imports just the two dispatchers it needs. Their types are the public ones.
declare module 'undici/lib/dispatcher/pool.js' {
  import { Pool } from 'undici';
  export default Pool;
}
declare module 'undici/lib/dispatcher/client.js' {
  import { Client } from 'undici';
  export default Client;
}
