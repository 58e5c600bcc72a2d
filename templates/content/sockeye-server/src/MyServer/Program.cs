// Runs until SIGTERM or Ctrl-C, then stops accepting and lets open connections finish (the drain).
// Every setting comes from appsettings.json, environment variables (Sockeye__Listeners__echo__Port=7001)
// or the command line (--Sockeye:Listeners:echo:Port=7001).
using Microsoft.Extensions.Hosting;
using MyServer;

using var host = ServerHost.Create(args);
await host.RunAsync();
