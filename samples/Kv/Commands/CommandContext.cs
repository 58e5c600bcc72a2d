using System.Buffers;
using System.Text;
using Sockeye.Samples.Kv.Resp;
using Sockeye.Samples.Kv.Store;

namespace Sockeye.Samples.Kv.Commands;

/// <summary>What a command runs with: its arguments, where its reply goes, the keyspace (locked), the
/// client's session and the server.</summary>
internal sealed class CommandContext(KvServer server, KvSession session)
{
    /// <summary>The server (its keyspace, hub and options).</summary>
    public KvServer Server { get; } = server;

    /// <summary>The client.</summary>
    public KvSession Session { get; } = session;

    /// <summary>The command's arguments, name first.</summary>
    public CommandArgs Args { get; } = new();

    /// <summary>Where the reply is written.</summary>
    public IBufferWriter<byte> Output { get; set; } = null!;

    /// <summary>The client's selected database (the server's lock is held while a command runs).</summary>
    public Keyspace Keys => Server.Databases[Session.Database];

    /// <summary>The time the batch started, for expiry checks.</summary>
    public long Now { get; set; }

    /// <summary>The command's name as Redis prints it in errors (lower case).</summary>
    public string Name { get; set; } = "";

    /// <summary>Writes an error reply.</summary>
    public void Error(string text) => RespWriter.Error(Output, text);

    /// <summary>Redis's reply to an operation on a value of another type.</summary>
    public void WrongType() => Error("WRONGTYPE Operation against a key holding the wrong kind of value");

    /// <summary>Redis's reply to a malformed integer argument.</summary>
    public void NotInteger() => Error("ERR value is not an integer or out of range");

    /// <summary>Redis's reply to a malformed option list.</summary>
    public void SyntaxError() => Error("ERR syntax error");

    /// <summary>Redis's reply to a wrong number of arguments.</summary>
    public void WrongArity() => Error($"ERR wrong number of arguments for '{Name}' command");

    /// <summary>Argument <paramref name="index"/> as an integer, or false after writing Redis's error.</summary>
    public bool TryInteger(int index, out long value)
    {
        if (RespParser.TryParseLong(Args[index], out value))
        {
            return true;
        }

        NotInteger();
        return false;
    }

    /// <summary>Whether argument <paramref name="index"/> is <paramref name="upperWord"/>, ignoring ASCII case.</summary>
    public bool Is(int index, ReadOnlySpan<byte> upperWord) => Ascii.EqualsIgnoreCase(Args[index], upperWord);

    /// <summary>The live entry of argument <paramref name="index"/>'s key, or null.</summary>
    public Entry? Find(int index) => Keys.Find(Args[index], Now);

    /// <summary>Argument <paramref name="index"/>'s live entry and its value as a <typeparamref name="T"/>
    /// (both null when the key is missing); false, after the WRONGTYPE reply, when the key holds another type.</summary>
    public bool TryFind<T>(int index, out Entry? entry, out T? value)
        where T : class
    {
        entry = Find(index);
        value = entry?.Value as T;
        if (entry is not null && value is null)
        {
            WrongType();
            return false;
        }

        return true;
    }
}
