// The admin folder, seen from outside: the loopback admin server and the stats server.

export { clustersText, startAdminServer, startStatsServer, type AdminServer, type AdminSource } from './server.ts';
