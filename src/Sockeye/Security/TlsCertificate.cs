using System.Security.Cryptography.X509Certificates;

namespace Sockeye.Security;

/// <summary>
/// Where a TLS listener gets one certificate with its private key: PEM files, a PFX (PKCS#12) file,
/// or a certificate object. File-based certificates can be reloaded without a restart
/// (<see cref="TcpServer.ReloadTlsCertificates"/>, <see cref="TlsOptions.ReloadOnFileChange"/>).
/// </summary>
/// <remarks>A PEM certificate file may hold the chain after the leaf (intermediates are sent to
/// clients). Instances are immutable and safe to share.</remarks>
public sealed class TlsCertificate
{
    private TlsCertificate(string? certificatePath, string? keyPath, string? password, bool isPfx, X509Certificate2? certificate)
    {
        CertificatePath = certificatePath;
        KeyPath = keyPath;
        Password = password;
        IsPfx = isPfx;
        Certificate = certificate;
    }

    /// <summary>The PEM or PFX file, when loaded from files.</summary>
    public string? CertificatePath { get; }

    /// <summary>The PEM private key file, when the key is separate from the certificate.</summary>
    public string? KeyPath { get; }

    /// <summary>The PFX password, or the password of an encrypted PEM key.</summary>
    public string? Password { get; }

    /// <summary>Whether <see cref="CertificatePath"/> is a PFX (PKCS#12) file.</summary>
    public bool IsPfx { get; }

    /// <summary>The certificate object, when given directly (it is not reloaded).</summary>
    public X509Certificate2? Certificate { get; }

    /// <summary>A certificate (and optional chain) in a PEM file and its private key in another, or in
    /// the same file when <paramref name="keyPath"/> is <see langword="null"/>.</summary>
    /// <param name="certificatePath">The PEM certificate file; intermediates may follow the leaf.</param>
    /// <param name="keyPath">The PEM private key file (PKCS#8, PKCS#1 or SEC1).</param>
    /// <param name="password">The password of an encrypted PKCS#8 key, if it is encrypted.</param>
    public static TlsCertificate FromPemFiles(string certificatePath, string? keyPath = null, string? password = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(certificatePath);
        return new(certificatePath, keyPath, password, isPfx: false, certificate: null);
    }

    /// <summary>A certificate and private key in a PFX (PKCS#12) file.</summary>
    /// <param name="path">The PFX file.</param>
    /// <param name="password">Its password, if any.</param>
    public static TlsCertificate FromPfxFile(string path, string? password = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return new(path, keyPath: null, password, isPfx: true, certificate: null);
    }

    /// <summary>A certificate that already carries its private key.</summary>
    /// <param name="certificate">The certificate; <see cref="X509Certificate2.HasPrivateKey"/> must be true.</param>
    public static TlsCertificate FromCertificate(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (!certificate.HasPrivateKey)
        {
            throw new ArgumentException($"certificate {certificate.Subject} has no private key; a server certificate needs one", nameof(certificate));
        }

        return new(null, null, null, isPfx: false, certificate);
    }

    /// <summary>The files this certificate is read from (watched for changes).</summary>
    internal IEnumerable<string> Files
    {
        get
        {
            if (CertificatePath is not null)
            {
                yield return CertificatePath;
            }

            if (KeyPath is not null)
            {
                yield return KeyPath;
            }
        }
    }

    /// <inheritdoc/>
    public override string ToString() => CertificatePath ?? Certificate?.Subject ?? "?";
}
