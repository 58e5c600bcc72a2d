using System.Buffers;
using System.Text;
using Sockeye.Samples.Kv.Resp;

namespace Sockeye.Samples.Kv.Commands;

/// <summary>PING ECHO QUIT SELECT DBSIZE FLUSHDB FLUSHALL INFO CONFIG CLIENT COMMAND: enough for
/// redis-cli, redis-benchmark and StackExchange.Redis to connect and probe.</summary>
internal static class ServerCommands
{
    public static void Ping(CommandContext c)
    {
        if (c.Args.Count > 2)
        {
            c.WrongArity();
            return;
        }

        if (c.Session.Subscriptions > 0)
        {
            // Subscriber mode answers with a two-element array, as Redis's RESP2 does.
            RespWriter.ArrayHeader(c.Output, 2);
            RespWriter.Bulk(c.Output, "pong"u8);
            RespWriter.Bulk(c.Output, c.Args.Count == 2 ? c.Args[1] : []);
        }
        else if (c.Args.Count == 2)
        {
            RespWriter.Bulk(c.Output, c.Args[1]);
        }
        else
        {
            c.Output.Write("+PONG\r\n"u8);
        }
    }

    public static void Echo(CommandContext c) => RespWriter.Bulk(c.Output, c.Args[1]);

    public static void Quit(CommandContext c)
    {
        RespWriter.Ok(c.Output);
        c.Session.Closing = true;
    }

    /// <summary>SELECT index: the connection's database from now on; Redis's three errors (not an
    /// integer, not an int, not 0 to 15).</summary>
    public static void Select(CommandContext c)
    {
        if (!c.TryInteger(1, out var index))
        {
            return;
        }

        if (index is < int.MinValue or > int.MaxValue)
        {
            c.Error("ERR value is out of range, value must between -2147483648 and 2147483647");
            return;
        }

        if (index is < 0 or >= KvServer.DatabaseCount)
        {
            c.Error("ERR DB index is out of range");
            return;
        }

        c.Session.Database = (int)index;
        RespWriter.Ok(c.Output);
    }

    public static void DbSize(CommandContext c) => RespWriter.Integer(c.Output, c.Keys.Count);

    /// <summary>FLUSHDB (the selected database) or FLUSHALL (all 16) [ASYNC|SYNC]: both delete at once.</summary>
    public static void Flush(CommandContext c, bool all)
    {
        if (c.Args.Count > 2 || (c.Args.Count == 2 && !c.Is(1, "ASYNC"u8) && !c.Is(1, "SYNC"u8)))
        {
            c.SyntaxError();
            return;
        }

        if (all)
        {
            foreach (var db in c.Server.Databases)
            {
                db.Clear();
            }
        }
        else
        {
            c.Keys.Clear();
        }

        RespWriter.Ok(c.Output);
    }

    public static void Info(CommandContext c)
    {
        var text = new StringBuilder()
            .Append("# Server\r\n")
            .Append("redis_version:7.0.15\r\n")
            .Append("redis_mode:standalone\r\n")
            .Append("os:Sockeye samples/Kv\r\n")
            .Append("arch_bits:64\r\n")
            .Append("process_id:").Append(Environment.ProcessId).Append("\r\n")
            .Append("tcp_port:").Append(c.Server.Port).Append("\r\n")
            .Append("uptime_in_seconds:").Append((long)(DateTime.UtcNow - c.Server.StartedAt).TotalSeconds).Append("\r\n")
            .Append("\r\n# Clients\r\n")
            .Append("connected_clients:").Append(c.Server.ConnectedClients).Append("\r\n")
            .Append("\r\n# Replication\r\n")
            .Append("role:master\r\n")
            .Append("connected_slaves:0\r\n")
            .Append("\r\n# Keyspace\r\n");
        for (var i = 0; i < c.Server.Databases.Count; i++)
        {
            var db = c.Server.Databases[i];
            if (db.Count > 0)
            {
                text.Append("db").Append(i).Append(":keys=").Append(db.Count).Append(",expires=").Append(db.ExpiresCount).Append(",avg_ttl=0\r\n");
            }
        }

        RespWriter.Bulk(c.Output, text.ToString());
    }

    /// <summary>CONFIG GET answers from a few fixed parameters (what the tools ask); CONFIG SET and
    /// RESETSTAT are accepted and change nothing.</summary>
    public static void Config(CommandContext c)
    {
        if (c.Is(1, "GET"u8))
        {
            if (c.Args.Count < 3)
            {
                c.Error("ERR wrong number of arguments for 'config|get' command");
                return;
            }

            var parameters = new (string Name, string Value)[]
            {
                ("appendonly", "no"),
                ("databases", "16"),
                ("maxclients", c.Server.MaxClients.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                ("maxmemory", "0"),
                ("port", c.Server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                ("proto-max-bulk-len", c.Server.Limits.MaxBulk.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                ("replica-read-only", "yes"),
                ("save", ""),
                ("slave-read-only", "yes"),
                ("timeout", "0"),
            };
            var found = new List<(string Name, string Value)>();
            for (var i = 2; i < c.Args.Count; i++)
            {
                var pattern = Encoding.ASCII.GetBytes(Encoding.UTF8.GetString(c.Args[i]).ToLowerInvariant());
                found.AddRange(parameters.Where(p => Glob.IsMatch(pattern, Encoding.ASCII.GetBytes(p.Name)) && !found.Contains(p)));
            }

            RespWriter.ArrayHeader(c.Output, found.Count * 2);
            foreach (var (name, value) in found)
            {
                RespWriter.Bulk(c.Output, name);
                RespWriter.Bulk(c.Output, value);
            }
        }
        else if (c.Is(1, "SET"u8) || c.Is(1, "RESETSTAT"u8))
        {
            RespWriter.Ok(c.Output);
        }
        else
        {
            UnknownSubcommand(c, "CONFIG");
        }
    }

    public static void Client(CommandContext c)
    {
        if (c.Is(1, "SETNAME"u8) && c.Args.Count == 3)
        {
            foreach (var b in c.Args[2])
            {
                if (b is < (byte)'!' or > (byte)'~')
                {
                    c.Error("ERR Client names cannot contain spaces, newlines or special characters.");
                    return;
                }
            }

            c.Session.Name = c.Args[2].Length == 0 ? null : c.Args.ToArray(2);
            RespWriter.Ok(c.Output);
        }
        else if (c.Is(1, "GETNAME"u8) && c.Args.Count == 2)
        {
            if (c.Session.Name is { } name)
            {
                RespWriter.Bulk(c.Output, name);
            }
            else
            {
                RespWriter.Null(c.Output);
            }
        }
        else if (c.Is(1, "ID"u8) && c.Args.Count == 2)
        {
            RespWriter.Integer(c.Output, c.Session.Connection.Id);
        }
        else if (c.Is(1, "SETINFO"u8) && c.Args.Count == 4)
        {
            RespWriter.Ok(c.Output);
        }
        else if (c.Is(1, "SETNAME"u8) || c.Is(1, "GETNAME"u8) || c.Is(1, "ID"u8) || c.Is(1, "SETINFO"u8))
        {
            c.Error($"ERR wrong number of arguments for 'client|{Encoding.UTF8.GetString(c.Args[1]).ToLowerInvariant()}' command");
        }
        else
        {
            UnknownSubcommand(c, "CLIENT");
        }
    }

    /// <summary>COMMAND COUNT answers; COMMAND, COMMAND DOCS and COMMAND INFO answer an empty list (the
    /// tools that ask then fall back to plain behaviour).</summary>
    public static void Command(CommandContext c)
    {
        if (c.Args.Count >= 2 && c.Is(1, "COUNT"u8))
        {
            RespWriter.Integer(c.Output, CommandTable.Count);
        }
        else
        {
            RespWriter.ArrayHeader(c.Output, 0);
        }
    }

    private static void UnknownSubcommand(CommandContext c, string command) =>
        c.Error($"ERR unknown subcommand '{Truncate(c.Args[1])}'. Try {command} HELP.");

    /// <summary>An argument as Redis quotes it in errors: at most 128 bytes.</summary>
    internal static string Truncate(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes[..Math.Min(bytes.Length, 128)]);
}
