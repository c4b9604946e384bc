import Foundation
import S3Client
import Testing
